"""One stay in one lesson: join with a token, publish, receive, react to the hub, report
stats. ``run`` returns why the stay ended; the agent decides whether to rejoin.

Tasks (consumers, events, stats) belong to the session: any crash ends it as LOST, and
``close`` cancels and awaits them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from websockets.exceptions import WebSocketException

from classroom_agent.display import Display
from classroom_agent.health import Health
from classroom_agent.playback import Playback
from classroom_agent.quality import AudioOnlyPolicy, Meter
from classroom_agent.recording import ReceivedRecorder
from streamhub.client import ClientError, Closed, ConnectionStateChanged, LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.protocol import (
    CLOSE_CODES,
    AnswerQuestion,
    AudioOnly,
    ChatMessage,
    ErrorCode,
    HandLowered,
    HandRaised,
    Leave,
    LessonEnded,
    LowerHand,
    MuteRequested,
    QuestionAnswers,
    QuestionClosed,
    QuestionInfo,
    QuestionOpened,
    QuestionRevealed,
    QuickReplied,
    QuickReply,
    RaiseHand,
    ReplyKind,
    ScreenShareChanged,
    SetMuted,
    Slot,
    StageChanged,
    StatsReport,
)

logger = logging.getLogger(__name__)

RECORDED = {Slot.LECTURER_VIDEO: "video", Slot.LECTURER_AUDIO: "audio"}
SHOWN = {Slot.LECTURER_VIDEO: "lecturer", Slot.SCREEN_VIDEO: "screen", Slot.STAGE_VIDEO: "stage"}
ENDED_CLOSE_CODE = CLOSE_CODES[ErrorCode.LESSON_ENDED]


class Outcome(StrEnum):
    ENDED = "ended"  # the lesson is over
    LEFT = "left"  # we left on purpose
    LOST = "lost"  # connection lost or a task crashed: rejoin


@dataclass
class SessionOptions:
    stats_interval_s: float = 5.0
    sample_interval_s: float = 1.0
    connect_timeout_s: float = 15.0
    policy: Callable[[], AudioOnlyPolicy] = AudioOnlyPolicy


class ClassroomSession:
    def __init__(
        self,
        client: LessonClient,
        *,
        camera: MediaStreamTrack | None,
        microphone: Callable[[], MediaStreamTrack | None],
        muted: bool,
        display: Display,
        playback: Playback,
        recorder: ReceivedRecorder | None,
        meter: Meter,
        options: SessionOptions,
        on_change: Callable[[], None],
        health: Health | None = None,
        on_news: Callable[[str, str, dict[str, str]], None] | None = None,
    ) -> None:
        self.client = client
        self.camera = camera
        self._make_microphone = microphone
        self.microphone: MediaStreamTrack | None = None
        self.muted = muted
        self.muted_by_lecturer = False
        self.hand_raised = False
        self.screen_sharing = False
        self.on_stage = False
        self.audio_only = False
        self.health = health or Health()
        self.display = display
        self.playback = playback
        self.recorder = recorder
        self.meter = meter
        self.options = options
        self.policy = options.policy()
        self.last_stats: StatsReport | None = None
        self._on_change = on_change
        # (kind, words, values): news the room must read, shown until it says so.
        self._on_news = on_news or (lambda kind, key, values: None)
        self._lowering = False
        # The lecturer's question shown on the projector, and whether this room answered it.
        self.question: QuestionInfo | None = None
        self.answered: str | None = None
        # When its time limit is up, on this PC's clock (the hub sends the seconds left: the
        # PC's clock may be off the hub's); None: no limit.
        self.question_deadline: float | None = None
        self._stage: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._consumed: set[str] = set()
        self._pools: list[ThreadPoolExecutor] = []
        self._outcome: asyncio.Future[Outcome] | None = None
        self._closed = False

    @property
    def participant_id(self) -> str | None:
        joined = self.client.joined
        return joined.participant.id if joined else None

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> Outcome:
        """Join and stay until the lesson ends, we leave, or the link is lost."""
        self._outcome = asyncio.get_running_loop().create_future()
        try:
            if not self.muted:
                self.microphone = self._make_microphone()
            publish = {Slot.CAMERA: self.camera, Slot.MICROPHONE: self.microphone}
            joined = await asyncio.wait_for(
                self.client.connect(publish), self.options.connect_timeout_s
            )
            logger.info(
                "joined lesson %s (%s) as %s",
                joined.lesson_id,
                joined.lesson_title,
                joined.participant.id,
            )
            self.screen_sharing = joined.screen_sharing
            self._question_shown(joined.question)
            self.hand_raised = joined.participant.id in joined.hands
            self.on_stage = joined.stage == joined.participant.id
            self._stage = joined.stage
            self._spawn(self._events(), "events")
            self._spawn(self._stats(), "stats")
            for slot, track in list(self.client.tracks.items()):
                self._consume(slot, track)
            if self.muted:
                await self.client.request(SetMuted(muted=True))
            # The lecturer's tile shows a missing device from the first second, not the first
            # stats interval.
            await self.report_devices()
            self._on_change()
            return await self._outcome
        finally:
            await self.close()

    def _finish(self, outcome: Outcome) -> None:
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(outcome)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"session-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # A crash in a media task restarts the session, not the process.
            logger.error("session task %s crashed: %r", task.get_name(), exc, exc_info=exc)
            self._finish(Outcome.LOST)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._finish(Outcome.LOST)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), 10)
        for track in (self.camera, self.microphone):
            if track is not None:
                track.stop()
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for source in SHOWN.values():
            self.display.show(source, None)

    # ------------------------------------------------------------ actions

    async def raise_hand(self) -> None:
        await self.client.request(RaiseHand())
        self.hand_raised = True
        self._on_change()

    async def lower_hand(self) -> None:
        self._lowering = True  # our own act: no news for it
        try:
            await self.client.request(LowerHand())
        finally:
            self._lowering = False
        self.hand_raised = False
        self._on_change()

    async def toggle_hand(self) -> None:
        await (self.lower_hand() if self.hand_raised else self.raise_hand())

    async def set_muted(self, muted: bool) -> None:
        """Stop (or start again) sending the microphone and tell the hub.

        The track stays open while muted: aiortc's sender may be waiting in its ``recv`` when
        it is unpublished, and a stopped capture device would never answer that read, so a
        new track published later would never be read. A microphone drops what it captures
        while muted; nothing said then is sent after."""
        if muted and not self.muted and self.microphone is not None:
            self.client.publish(Slot.MICROPHONE, None)
            _pause(self.microphone, True)
        elif not muted and self.microphone is None:
            self.microphone = self._make_microphone()
            self.client.publish(Slot.MICROPHONE, self.microphone)
        elif not muted and self.muted and self.microphone is not None:
            _pause(self.microphone, False)
            self.client.publish(Slot.MICROPHONE, self.microphone)
        self.muted = muted
        if not muted:
            self.muted_by_lecturer = False
        await self.client.request(SetMuted(muted=muted))
        logger.info("microphone %s", "muted" if muted else "on")
        self._on_change()

    async def quick_reply(self, kind: ReplyKind) -> None:
        await self.client.request(QuickReply(kind=kind))

    async def answer_option(self, index: int) -> None:
        """The room's one agreed answer by its position (key 1: A or true, 2: B or false...);
        a key that names no option of the open question does nothing."""
        question = self.question
        if question is None or question.closed or question.kind == "number":
            return
        if not 0 <= index < len(question.options):
            return
        choice = question.options[index]
        await self.client.request(AnswerQuestion(question=question.id, choice=choice))

    def _question_shown(self, question: QuestionInfo | None) -> None:
        self.question = question
        left = question.time_left_s if question is not None else None
        self.question_deadline = time.time() + left if left is not None else None

    def time_is_up(self) -> bool:
        """The question's time limit passed (the hub closes it a moment later): the projector
        shows it closed and the keys no longer answer it."""
        return self.question_deadline is not None and time.time() >= self.question_deadline

    async def answer_counts(self, counts: dict[str, int]) -> None:
        """The room's counts per option (how many pupils chose each)."""
        question = self.question
        if question is None or question.closed or question.kind == "number":
            return
        if not set(counts) <= set(question.options) or not any(counts.values()):
            return
        await self.client.request(AnswerQuestion(question=question.id, counts=counts))

    async def answer_number(self, value: float) -> None:
        question = self.question
        if question is None or question.closed or question.kind != "number":
            return
        await self.client.request(AnswerQuestion(question=question.id, value=value))

    async def leave(self) -> None:
        with contextlib.suppress(ClientError, TimeoutError):
            await self.client.request(Leave())
        self._finish(Outcome.LEFT)

    # ------------------------------------------------------------ hub events

    async def _events(self) -> None:
        async for event in self.client.events():
            if isinstance(event, LessonEnded):
                logger.info("lesson ended")
                self._finish(Outcome.ENDED)
            elif isinstance(event, Closed):
                ended = event.code == ENDED_CLOSE_CODE
                logger.info("signaling closed (%s %s)", event.code, event.reason)
                self._finish(Outcome.ENDED if ended else Outcome.LOST)
            elif isinstance(event, ConnectionStateChanged):
                if event.state in ("failed", "closed"):
                    logger.warning("peer connection %s", event.state)
                    self._finish(Outcome.LOST)
            elif isinstance(event, MuteRequested):
                await self._mute_requested(event)
            elif isinstance(event, HandRaised | HandLowered):
                if event.participant == self.participant_id:
                    lowered = self.hand_raised and isinstance(event, HandLowered)
                    if lowered and not self._lowering:
                        self._on_news("hand", "hand_lowered", {})
                    self.hand_raised = isinstance(event, HandRaised)
                    self._on_change()
            elif isinstance(event, ChatMessage):
                if event.sender != self.participant_id:
                    self._on_news(
                        "chat", "chat_from", {"name": event.sender_name, "text": event.text}
                    )
            elif isinstance(event, StageChanged):
                self._stage_news(event)
                self.on_stage = event.participant is not None and event.participant == (
                    self.participant_id
                )
                if event.participant is None or self.on_stage:
                    self.display.show("stage", None)  # nobody else on stage: no inset
                self._on_change()
            elif isinstance(
                event, QuestionOpened | QuestionRevealed | QuestionClosed | QuestionAnswers
            ):
                self._question_news(event)
                self._on_change()
            elif isinstance(event, QuickReplied):
                logger.info("quick reply %s sent (%d in this lesson)", event.kind, event.count)
            elif isinstance(event, ScreenShareChanged):
                self.screen_sharing = event.on
                if not event.on:
                    self.display.show("screen", None)
                self._on_change()
            elif hasattr(event, "slot") and hasattr(event, "track"):  # TrackReceived
                self._consume(event.slot, event.track)

    def _question_news(
        self, event: QuestionOpened | QuestionRevealed | QuestionClosed | QuestionAnswers
    ) -> None:
        if isinstance(event, QuestionOpened):
            self._question_shown(event.question)
            self.answered = None
            return
        question = self.question
        if question is None or event.question != question.id:
            return
        if isinstance(event, QuestionRevealed):
            self.question = question.model_copy(update={"correct": event.correct})
        elif isinstance(event, QuestionClosed):
            self.question = question.model_copy(update={"closed": True})
        elif event.answers:
            mine = event.answers[0]
            if mine.choice is not None:
                self.answered = mine.choice
            elif mine.value is not None:
                self.answered = f"{mine.value:g}"
            else:
                self.answered = ", ".join(f"{k} {v}" for k, v in mine.counts.items())

    def _wanted(self, show: str) -> bool:
        if show == "screen":
            return self.screen_sharing
        if show == "stage":
            return self._stage is not None and not self.on_stage
        return True

    def _stage_news(self, event: StageChanged) -> None:
        before, self._stage = self._stage, event.participant
        if event.participant is not None and event.participant == self.participant_id:
            self._on_news("stage", "stage_you", {})
        elif event.participant is not None:
            self._on_news("stage", "stage_other", {"name": event.name or ""})
        elif before is not None:
            self._on_news("stage", "stage_off", {})

    async def _mute_requested(self, event: MuteRequested) -> None:
        key = "muted_by_lecturer" if event.muted else "unmuted_by_lecturer"
        self._on_news("mute", key, {})
        if event.muted:
            logger.info("the lecturer (%s) asked us to mute", event.by)
            await self.set_muted(True)
            self.muted_by_lecturer = True
        elif self.muted_by_lecturer:
            logger.info("the lecturer allows the microphone again")
            await self.set_muted(False)

    # ------------------------------------------------------------ media

    def _consume(self, slot: Slot, track: MediaStreamTrack) -> None:
        if track.id in self._consumed:
            return
        self._consumed.add(track.id)
        self._spawn(self._receive(slot, track), f"recv-{slot.value}")

    async def _receive(self, slot: Slot, track: MediaStreamTrack) -> None:
        kind = track.kind
        show = SHOWN.get(slot) if self.display.wants_pictures else None
        play = slot in (Slot.LECTURER_AUDIO, Slot.STAGE_AUDIO) and self.playback.wants_samples
        decoder: FrameDecoder | None = None
        pool: ThreadPoolExecutor | None = None
        if show or play:
            codec = self.client.joined.video_codec if self.client.joined else "VP8"
            decoder = FrameDecoder.for_kind(kind, codec)
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"agent-{slot.value}")
            self._pools.append(pool)
        loop = asyncio.get_running_loop()
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(packet, av.Packet):
                continue  # the encoded-frame tap is off: nothing we can forward or record
            self.meter.count(kind, packet.size)
            if self.recorder is not None and slot in RECORDED:
                self.recorder.write(RECORDED[slot], packet)
            if decoder is None or pool is None:
                continue
            if show:
                image = await loop.run_in_executor(pool, _decode_picture, decoder, packet)
                # A screen or stage picture still on its way after the lecturer ended the share
                # or the stage would put it back on the projector for good.
                if image is not None and self._wanted(show):
                    self.display.show(show, image)
            elif play:
                samples = await loop.run_in_executor(pool, _decode_samples, decoder, packet)
                if samples is not None:
                    self.playback.play(samples)

    # ------------------------------------------------------------ stats

    async def _stats(self) -> None:
        last_report = time.monotonic()
        counts: dict[str, tuple[int, int]] = {}
        window: list[tuple[float, float, float, float | None]] = []
        while True:
            await asyncio.sleep(self.options.sample_interval_s)
            rates = self.meter.take()
            loss, rtt, counts = await self._loss_and_rtt(counts)
            now = time.monotonic()
            fps, video_kbps = rates["video"]
            audio_kbps = rates["audio"][1]
            window.append((fps, video_kbps + audio_kbps, loss or 0.0, rtt))
            wish = self.policy.update(now, loss, video_kbps)
            if wish is not None:
                logger.warning(
                    "link %s (loss %.0f%%, video %.0f kbps): audio only %s",
                    "poor" if wish else "recovered",
                    100 * (loss or 0.0),
                    video_kbps,
                    "on" if wish else "off",
                )
                try:
                    await self.client.request(AudioOnly(enabled=wish))
                except ClientError as exc:
                    logger.info("audio-only request not answered: %s", exc)
                    return  # the session is going away; the agent rejoins
                self.audio_only = wish
                # Audio keeps priority both ways: on a poor link the classroom's camera would
                # fill the uplink that its microphone needs.
                if self.camera is not None:
                    self.client.publish(Slot.CAMERA, None if wish else self.camera)
                self._on_change()
            if now - last_report >= self.options.stats_interval_s:
                rtts = [r for *_, r in window if r is not None]
                report = StatsReport(
                    fps=round(sum(w[0] for w in window) / len(window), 1),
                    bitrate_kbps=round(sum(w[1] for w in window) / len(window), 1),
                    loss=round(sum(w[2] for w in window) / len(window), 4),
                    rtt_ms=round(1000 * sum(rtts) / len(rtts), 1) if rtts else None,
                    devices=self.health.report(),
                )
                await self.client.send(report)
                self.last_stats = report
                window.clear()
                last_report = now
                self._on_change()

    async def report_devices(self) -> None:
        """Tell the hub now which devices work (the stats report repeats it later)."""
        report = self.last_stats or StatsReport()
        report = report.model_copy(update={"devices": self.health.report()})
        try:
            await self.client.send(report)
        except (ClientError, WebSocketException, OSError) as exc:
            logger.info("device report not sent: %s", exc)

    async def _loss_and_rtt(
        self, previous: dict[str, tuple[int, int]]
    ) -> tuple[float | None, float | None, dict[str, tuple[int, int]]]:
        pc = self.client.pc
        if pc is None:
            return None, None, previous
        report = await pc.getStats()
        current: dict[str, tuple[int, int]] = {}
        rtts: list[float] = []
        for stat in report.values():
            if stat.type == "inbound-rtp":
                current[stat.id] = (stat.packetsReceived, stat.packetsLost)
            elif stat.type == "remote-inbound-rtp" and stat.roundTripTime is not None:
                rtts.append(stat.roundTripTime)
        received = lost = 0
        for key, (got, missing) in current.items():
            before = previous.get(key, (0, 0))
            received += max(got - before[0], 0)
            lost += max(missing - before[1], 0)
        loss = lost / (received + lost) if received + lost else None
        return loss, (sum(rtts) / len(rtts) if rtts else None), current


def _decode_picture(decoder: FrameDecoder, packet: Any) -> np.ndarray | None:
    frames: list[Any] = decoder.decode(packet)
    return frames[-1].to_ndarray(format="rgb24") if frames else None


def _decode_samples(decoder: FrameDecoder, packet: Any) -> np.ndarray | None:
    frames: list[Any] = decoder.decode(packet)
    if not frames:
        return None
    chunks = []
    for frame in frames:
        data = frame.to_ndarray()
        # Opus decodes to planar or packed stereo: mix down to mono int16.
        if data.dtype != np.int16:
            data = np.clip(data * 32767, -32768, 32767)
        if data.shape[0] > 1 and data.ndim == 2:
            data = data.mean(axis=0)
        elif data.ndim == 2 and frame.format.is_packed:
            data = data.reshape(-1, len(frame.layout.channels)).mean(axis=1)
        chunks.append(np.asarray(data, np.float64).reshape(-1))
    return np.concatenate(chunks).astype(np.int16)


def _pause(track: MediaStreamTrack, paused: bool) -> None:
    pause = getattr(track, "set_paused", None)
    if pause is not None:
        pause(paused)
