"""One live recording: a hidden subscriber (recorder role) whose received encoded frames go to
the writer thread, stamped on the lesson's timeline by arrival time.

The subscriber is the client SDK over WebRTC for a separate `recorder` process, and
``streamhub.signaling.local.LocalSession`` (frames straight from the forwarder) for the hub's
in-process recorder."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from recorder.writer import RecordingWriter, is_disk_full
from streamhub.client import LessonClient
from streamhub.client.events import Closed
from streamhub.lesson.extension import LessonMember
from streamhub.protocol import (
    LessonEnded,
    ParticipantJoined,
    ScreenShareChanged,
    Slot,
    StageChanged,
)

logger = logging.getLogger(__name__)

SLOT_TRACKS = {
    Slot.LECTURER_VIDEO: "lecturer_video",
    Slot.LECTURER_AUDIO: "lecturer_audio",
    Slot.SCREEN_VIDEO: "screen",
    Slot.STAGE_VIDEO: "stage_video",
    Slot.STAGE_AUDIO: "stage_audio",
}
# Where a track's RTP clock and its arrival times disagree by more than this, the source
# changed or paused: re-anchor it on arrival time.
REANCHOR_S = 1.0


class KeyframeCadence:
    """Asks a video source for a key frame when its last one is ``every_s`` old.

    The archive is then seekable and cuttable on a ``every_s`` grid without transcoding: an
    H.264 lesson stays a remux at finalize (a browser sends key frames only when asked, so a
    live H.264 stream had one every 8-19 s). A source that ignores the requests is put on the
    grid by finalize instead (``recorder.regrid_h264``)."""

    def __init__(
        self,
        every_s: float,
        ask: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every_s = every_s
        self._ask = ask
        self._clock = clock
        self._last_key: float | None = None
        self._last_ask = -1e9
        self.asked = 0

    def frame(self, keyframe: bool) -> None:
        now = self._clock()
        if keyframe or self._last_key is None:
            self._last_key = now
            return
        # Asked a little early: the key frame comes a round trip and an encode later.
        due = now - self._last_key >= self.every_s * 0.9
        if due and now - self._last_ask >= self.every_s / 2:
            self._last_ask = now
            self.asked += 1
            self._ask()


def describe_failure(exc: BaseException | None) -> str:
    """Why a recording stopped, as the lecturer and the library are told."""
    if is_disk_full(exc):
        return "the recordings disk is full"
    return f"the recording could not be written ({exc})"


class TrackClock:
    """Maps a track's RTP timestamps (unwrapped) onto the lesson timeline."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._unwrapped = 0
        self._anchor: tuple[int, float] | None = None

    def reset(self) -> None:
        self._anchor = None

    def place(self, timestamp: int, clock: int, arrival_t: float) -> float:
        if self._last is None:
            self._unwrapped = timestamp
        else:
            delta = ((timestamp - self._last + (1 << 31)) % (1 << 32)) - (1 << 31)
            self._unwrapped += delta
        self._last = timestamp
        if self._anchor is None:
            self._anchor = (self._unwrapped, arrival_t)
        t = self._anchor[1] + (self._unwrapped - self._anchor[0]) / clock
        if abs(t - arrival_t) > REANCHOR_S:
            self._anchor = (self._unwrapped, arrival_t)
            t = arrival_t
        return t


# What a recording needs of a lesson member: LessonClient and LocalSession both are one.
Subscriber = LessonMember


def webrtc_subscriber(
    hub_url: str, token: str, ice_host_addresses: Sequence[str] = ("127.0.0.1",)
) -> Callable[[], Subscriber]:
    """A recorder outside the hub joins over signaling and WebRTC, as a client does."""

    def make() -> Subscriber:
        return LessonClient(
            hub_url, token, ice_host_addresses=tuple(ice_host_addresses), name="Recorder"
        )

    return make


class RecordingSession:
    def __init__(
        self,
        subscriber: Callable[[], Subscriber],
        directory: Path,
        keyframe_every_s: float | None = None,
    ) -> None:
        self._subscriber = subscriber
        self.directory = directory
        # Key frames asked for on this grid from sources that can be asked (the hub's own
        # recorder: its tracks are the forwarder's slots), None: as the publisher sends them.
        self.keyframe_every_s = keyframe_every_s
        self.client: Subscriber | None = None
        self.writer: RecordingWriter | None = None
        self.lesson_ended = False
        # Why the hub closed the session before the lesson ended (replaced, revoked, dropped).
        self.closed_by_hub: str | None = None
        # Why recording stopped while the lesson went on (the writer failed: a full disk).
        self.stopped_reason: str | None = None
        self.connected = asyncio.Event()
        self.bytes_received = 0
        self.names: dict[str, str] = {}
        self._clocks = {slot: TrackClock() for slot in SLOT_TRACKS}

    async def run(self) -> None:
        """Record until the lesson ends or the task is cancelled; files are closed either way."""
        client = self._subscriber()
        self.client = client
        tasks: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        writer_failed = asyncio.Event()

        def failed(exc: BaseException) -> None:  # the writer thread's
            loop.call_soon_threadsafe(writer_failed.set)

        try:
            joined = await client.connect({})
            self.names = {p.id: p.name for p in joined.participants}
            # Opening the journal reads what a crashed session left and syncs: off the loop.
            self.writer = await loop.run_in_executor(
                None, RecordingWriter, self.directory, joined.video_codec, failed
            )
            self.writer.event("joined", lesson=joined.lesson_id, title=joined.lesson_title)
            if joined.stage is not None:
                self._stage(joined.stage)
            if joined.screen_sharing:
                self.writer.event("screen", on=True)
            for slot, track in SLOT_TRACKS.items():
                tasks.append(asyncio.create_task(self._pump(slot, track), name=f"rec-{track}"))
            self.connected.set()
            await self._until_ended_or_failed(writer_failed)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await client.close()
            if self.writer is not None:
                await asyncio.get_running_loop().run_in_executor(None, self.writer.close)

    async def _until_ended_or_failed(self, writer_failed: asyncio.Event) -> None:
        """Follow the lesson until it ends, or until the writer stops (a full disk): then the
        session ends, so that whoever runs it tells the lesson recording stopped."""
        follow = asyncio.create_task(self._follow_events(), name="rec-events")
        failed = asyncio.create_task(writer_failed.wait(), name="rec-writer-failed")
        try:
            await asyncio.wait({follow, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (follow, failed):
                task.cancel()
            await asyncio.gather(follow, failed, return_exceptions=True)
        if follow.done() and not follow.cancelled() and follow.exception() is None:
            return
        if writer_failed.is_set():
            assert self.writer is not None
            self.stopped_reason = describe_failure(self.writer.failed)
            return
        await follow  # re-raises what ended the events

    def _stage(self, participant: str | None) -> None:
        assert self.writer is not None
        self.writer.end_period("stage_video")
        self.writer.end_period("stage_audio")
        self._reset_clock(Slot.STAGE_VIDEO, Slot.STAGE_AUDIO)
        name = self.names.get(participant, "") if participant else ""
        self.writer.event("stage", participant=participant, name=name)

    def _reset_clock(self, *slots: Slot) -> None:
        for slot in slots:
            self._clocks[slot].reset()

    async def _follow_events(self) -> None:
        assert self.client is not None and self.writer is not None
        async for event in self.client.events():
            if isinstance(event, LessonEnded):
                # Keep recording until the hub closes us: its last frames are in flight.
                self.lesson_ended = True
                continue
            if isinstance(event, Closed) and not self.lesson_ended:
                self.closed_by_hub = f"{event.reason or 'connection closed'} (code {event.code})"
                continue
            if isinstance(event, ParticipantJoined):
                self.names[event.participant.id] = event.participant.name
            elif isinstance(event, StageChanged):
                self._stage(event.participant)
            elif isinstance(event, ScreenShareChanged):
                self.writer.end_period("screen")
                self._reset_clock(Slot.SCREEN_VIDEO)
                self.writer.event("screen", on=event.on)

    async def _pump(self, slot: Slot, track: str) -> None:
        assert self.client is not None and self.writer is not None
        source = self.client.tracks[slot]
        clock = self._clocks[slot]
        ask = getattr(source, "request_keyframe", None)
        cadence = (
            KeyframeCadence(self.keyframe_every_s, ask)
            if self.keyframe_every_s and ask is not None and getattr(source, "kind", "") == "video"
            else None
        )
        while True:
            packet = await source.recv()
            data = bytes(packet)
            if not data or packet.pts is None or packet.time_base is None:
                continue
            if cadence is not None:
                cadence.frame(bool(packet.is_keyframe))
            arrival = self.writer.now()
            rate = int(1 / packet.time_base)
            t = clock.place(int(packet.pts), rate, arrival)
            self.bytes_received += len(data)
            self.writer.frame(track, data, t, bool(packet.is_keyframe))
