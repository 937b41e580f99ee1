"""The unattended classroom agent: wait for the classroom's lessons, join each when it goes
live, rejoin after any loss (backoff with jitter), stop for good on a refused credential.

Devices (projector window, loudspeakers, camera, microphone), the echo canceller and the
recorder outlive sessions; a session is one stay. By default the agent uses the PC's own
devices; a device that cannot be opened is retried, shown on the projector, written to the
status file and reported to the hub, and the lesson goes on with what works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from websockets.exceptions import WebSocketException

from classroom_agent.answer_pad import AnswerPad
from classroom_agent.backoff import Backoff
from classroom_agent.camera import Camera
from classroom_agent.config import AgentConfig
from classroom_agent.display import Display, NullDisplay, open_display
from classroom_agent.echo import EchoCanceller
from classroom_agent.errors import CredentialRevoked, HubUnavailable, NoLiveLesson
from classroom_agent.health import Device, DeviceState, Health
from classroom_agent.hub_api import DeviceApi, LessonInfo
from classroom_agent.media_sources import SourceSpec, audio_track, video_track
from classroom_agent.microphone import Microphone
from classroom_agent.playback import NullPlayback, Playback, open_playback
from classroom_agent.quality import Meter
from classroom_agent.recording import ReceivedRecorder
from classroom_agent.scene import Scene
from classroom_agent.scheduler import Announcer, live_lesson, next_lesson
from classroom_agent.session import ClassroomSession, Outcome, SessionOptions
from classroom_agent.status import State, StatusFile
from streamhub.client import ClientError, LessonClient
from streamhub.protocol import REPLY_KINDS, StatsReport
from streamhub.quality import judge

logger = logging.getLogger(__name__)

# News kept for the projector (the oldest unread drop out past this many).
MAX_NEWS = 20


@dataclass
class AgentOptions:
    """Defaults are a real classroom's: its camera, microphone, screen and loudspeakers."""

    video_source: SourceSpec = field(default_factory=lambda: SourceSpec("camera", "auto"))
    audio_source: SourceSpec = field(default_factory=lambda: SourceSpec("mic", "auto"))
    display: str = "window"  # window | window:N | none
    audio_output: str = "default"  # default | NAME | none
    echo_cancel: bool = True
    record_received: Path | None = None
    poll_interval_s: float = 10.0
    backoff_cap_s: float = 5.0
    ice_host_addresses: tuple[str, ...] = ("127.0.0.1",)
    name: str | None = None
    session: SessionOptions = field(default_factory=SessionOptions)


class ClassroomAgent:
    def __init__(
        self, config: AgentConfig, options: AgentOptions, status: StatusFile | None = None
    ) -> None:
        self.config = config
        self.options = options
        self.status = status or StatusFile(None)
        # The hub's CA (enroll --ca-file) for HTTPS, wss and TURN over TLS.
        self.ssl_context = config.ssl_context()
        self.api = DeviceApi(config.hub, config.credential, verify=self.ssl_context)
        self.meter = Meter()
        self.health = Health()
        self.scene = Scene(language=config.language)
        self.session: ClassroomSession | None = None
        self.muted = False
        self.sessions = 0
        self.display: Display = NullDisplay()
        self.playback: Playback = NullPlayback()
        self.echo: EchoCanceller | None = None
        self.camera: Camera | None = None
        self.microphone: Microphone | None = None
        self.recorder: ReceivedRecorder | None = None
        self._announcer = Announcer()
        self._backoff = Backoff(cap_s=options.backoff_cap_s)
        self._stopping = asyncio.Event()
        self._actions: set[asyncio.Task[None]] = set()
        self._left: set[int] = set()
        self._lesson_title = ""
        self._lecturer = ""
        self._lessons: list[LessonInfo] = []
        # What the room types for the lecturer's question, sent with Enter.
        self._pad = AnswerPad()
        self.news: list[dict[str, str]] = []
        self.session_lesson_id: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # ------------------------------------------------------------ entry points

    async def run_schedule(self) -> None:
        """Forever: wait for a live lesson, stay in it, repeat. Raises CredentialRevoked."""
        await self._open()
        try:
            while not self._stopping.is_set():
                code = await self._wait_for_live_lesson()
                if code is None:
                    return
                await self._attend(code)
        except CredentialRevoked as exc:
            self._revoked(exc)
            raise
        finally:
            await self.close()

    async def join_lesson(self, code: str) -> None:
        """Join one lesson now; return when it ends or we leave. Raises CredentialRevoked."""
        await self._open()
        try:
            await self._attend(code)
        except CredentialRevoked as exc:
            self._revoked(exc)
            raise
        finally:
            await self.close()

    def stop(self) -> None:
        """Leave the lesson (if in one) and return from run_schedule / join_lesson."""
        self._stopping.set()
        self.leave()

    def leave(self) -> None:
        """Leave the current lesson; run_schedule then waits for the next one."""
        if self.session is not None:
            self._act(self.session.leave())

    # ------------------------------------------------------------ actions (keys, tests)

    async def raise_hand(self) -> None:
        if self.session is not None:
            await self.session.raise_hand()

    async def toggle_mute(self) -> None:
        if self.session is not None:
            await self.session.set_muted(not self.session.muted)

    def on_key(self, action: str) -> None:
        """From the display thread (through the loop): h, m, q, Enter (news read), F1-F5 quick
        replies, and the question's keys (answer_pad.py: digits, C for counts, Tab/arrows,
        Backspace, Enter sends what was typed)."""
        session = self.session
        if action.startswith("reply:") and session is not None:
            kind = action.split(":", 1)[1]
            if kind in REPLY_KINDS:
                self._act(session.quick_reply(kind))  # type: ignore[arg-type]
        elif session is not None and self._question_key(session, action):
            self._session_changed()
        elif action == "read":
            self.read_news()
        elif action == "leave":
            self.leave()
        elif action == "hand" and self.session is not None:
            self._act(self.session.toggle_hand())
        elif action == "mute":
            self._act(self.toggle_mute())

    def _question_key(self, session: ClassroomSession, action: str) -> bool:
        """Whether the key was the question's (it may still have sent nothing)."""
        question = session.question
        self._pad.follow(question)
        if question is None or question.closed or question.correct or session.time_is_up():
            return False  # nothing to answer (the hub takes no answer once the correct one shows)
        taken, send = self._pad.press(action, question)
        if send is not None:
            if send.option is not None:
                self._act(session.answer_option(send.option))
            elif send.value is not None:
                self._act(session.answer_number(send.value))
            elif send.counts is not None:
                self._act(session.answer_counts(send.counts))
        return taken

    def _act(self, coro: object) -> None:
        async def run() -> None:
            try:
                await coro  # type: ignore[misc]
            except (ClientError, TimeoutError) as exc:
                logger.warning("action failed: %s", exc)

        task = asyncio.get_running_loop().create_task(run(), name="agent-action")
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)

    # ------------------------------------------------------------ the loop

    async def _wait_for_live_lesson(self) -> str | None:
        while not self._stopping.is_set():
            try:
                lessons = await self.api.lessons(self.health.report())
            except HubUnavailable as exc:
                delay = self._backoff.next_delay()
                logger.warning("hub unreachable (%s); retrying in %.1fs", exc, delay)
                self.scene.network = "missing"
                self._set_status(State.RECONNECTING, message="hub unreachable")
                await self._sleep(delay)
                continue
            self._backoff.reset()
            self.scene.network = "ok"
            self._lessons = lessons
            live_ids = {x.id for x in lessons if x.live}
            self._left &= live_ids  # a lesson we left is joinable again once it ends
            lesson = live_lesson(lessons, self._left)
            if lesson is not None:
                return lesson.join_code
            upcoming = next_lesson(lessons)
            text = self._announcer.announce(upcoming)
            self._show_next(upcoming)
            self._set_status(
                State.WAITING,
                message=text,
                next_lesson=(
                    {
                        "title": upcoming.title,
                        "at": upcoming.scheduled_start.isoformat(),
                        "lecturer": upcoming.lecturer_name,
                    }
                    if upcoming
                    else None
                ),
            )
            await self._sleep(self.options.poll_interval_s)
        return None

    async def _attend(self, code: str) -> None:
        """Stay in the lesson with this code, rejoining after losses, until it ends."""
        while not self._stopping.is_set():
            self._set_status(
                State.JOINING if self._backoff.attempt == 0 else State.RECONNECTING,
                lesson_code=code,
            )
            try:
                outcome = await self._one_session(code)
            except NoLiveLesson as exc:
                logger.info("lesson %s is not live: %s", code, exc)
                outcome = Outcome.ENDED
            except (HubUnavailable, ClientError, OSError, TimeoutError, WebSocketException) as exc:
                # A proxy's 502 while the hub restarts, a socket closed mid-join: try again.
                logger.warning("joining lesson %s failed: %r", code, exc)
                outcome = Outcome.LOST
            if outcome is Outcome.LOST and not self._stopping.is_set():
                delay = self._backoff.next_delay()
                logger.warning("connection to lesson %s lost; rejoining in %.1fs", code, delay)
                self._set_status(State.RECONNECTING, message=f"reconnecting in {delay:.1f}s")
                await self._sleep(delay)
                continue
            self._backoff.reset()
            self.news.clear()  # a lesson's news ends with it
            self._set_status(State.WAITING, message=f"lesson {outcome.value}", lesson_code=None)
            if outcome is Outcome.LEFT and self.session_lesson_id is not None:
                self._left.add(self.session_lesson_id)
            return

    async def _one_session(self, code: str) -> Outcome:
        token = await self.api.token(code)  # a fresh exchange on every (re)join
        self.session_lesson_id = token.lesson_id
        self._lesson_title = token.lesson_title
        self._lecturer = next(
            (x.lecturer_name for x in self._lessons if x.id == token.lesson_id), self._lecturer
        )
        client = LessonClient(
            self.config.hub,
            token.token,
            ice_host_addresses=self.options.ice_host_addresses,
            name=self.options.name,
            ssl_context=self.ssl_context,
            # H.264 first (the hub's default lesson codec: recordings remux), VP8 as fallback.
            codecs=("H264", "VP8", "opus"),
        )
        camera = video_track(self.options.video_source, self.camera)
        session = ClassroomSession(
            client,
            camera=camera,
            microphone=lambda: audio_track(self.options.audio_source, self.microphone),
            muted=self.muted,
            display=self.display,
            playback=self.playback,
            recorder=self.recorder,
            meter=self.meter,
            options=self.options.session,
            on_change=self._session_changed,
            health=self.health,
            on_news=self._news,
        )
        self.session = session
        self.sessions += 1
        if self.recorder is not None:
            self.recorder.new_session()
        try:
            return await session.run()
        finally:
            self.muted = session.muted
            self.session = None

    def _news(self, kind: str, key: str, values: dict[str, str]) -> None:
        """Stage, hand, microphone and chat news: on the projector until the room reads it."""
        # Put into words by the window, in the projector's language and font.
        self.news.append({**values, "kind": kind, "key": key})
        del self.news[:-MAX_NEWS]
        logger.info("news for the room: %s", key)
        self._show_scene()

    def read_news(self) -> None:
        """The room pressed Enter: the news on the projector was read."""
        self.news.clear()
        self._show_scene()

    def _session_changed(self) -> None:
        session = self.session
        if session is None:
            return
        self.scene.mode = "lesson"
        self.scene.reconnecting = False
        self.scene.lesson_title = self._lesson_title
        self.scene.lecturer = self._lecturer
        self.scene.hand = session.hand_raised
        question = session.question
        self._pad.follow(question)
        self.scene.question = (
            {
                "number": question.number,
                "text": question.text,
                "kind": question.kind,
                "options": question.options,
                "correct": question.correct,
                "answered": session.answered,
                "deadline": session.question_deadline,
                **self._pad.shown(),
            }
            if question is not None and not question.closed
            else {}
        )
        self.scene.muted = session.muted
        self.scene.audio_only = session.audio_only
        self.scene.on_stage = session.on_stage
        self.scene.quality = _quality(session.last_stats, session.audio_only)
        self._show_scene()
        stats = (
            session.last_stats.model_dump(exclude={"type", "id", "devices"})
            if session.last_stats
            else None
        )
        self.status.update(
            State.IN_LESSON,
            lesson_id=self.session_lesson_id,
            lesson_title=self._lesson_title,
            participant=session.participant_id,
            hand_raised=session.hand_raised,
            muted=session.muted,
            audio_only=session.audio_only,
            stats=stats,
            message=None,
            media=self._media_figures(),
        )

    def _media_figures(self) -> dict[str, object]:
        """What the room gets, for `status` and benchmarks: pictures on the projector per
        second, and the loudspeakers' gaps and buffer."""
        figures: dict[str, object] = {"window_fps": getattr(self.display, "fps", None)}
        buffer = getattr(self.playback, "buffer", None)
        if buffer is not None:
            figures.update(
                playback_underruns=buffer.underruns,
                playback_dropped_ms=round(buffer.dropped_samples / 48, 1),
                playback_stretched_ms=round(buffer.stretched_samples / 48, 1),
                playback_depth_ms=round(buffer.depth_ms, 1),
                playback_target_ms=round(buffer.target_ms, 1),
            )
        if self.echo is not None:
            figures["echo_delay_ms"] = self.echo.delay_ms
        return figures

    def _set_status(self, state: State, **fields: object) -> None:
        if state is State.RECONNECTING:
            self.scene.reconnecting = True
        elif state is State.JOINING:
            self.scene.mode, self.scene.reconnecting = "joining", False
        elif state is State.WAITING:
            self.scene.mode, self.scene.reconnecting = "waiting", False
        self._show_scene()
        self.status.update(
            state, devices=self.health.as_dict(), problems=self._problems(), **fields
        )

    def _show_next(self, upcoming: LessonInfo | None) -> None:
        self.scene.next_title = upcoming.title if upcoming else ""
        self.scene.next_lecturer = upcoming.lecturer_name if upcoming else ""
        self.scene.next_at = _local_time(upcoming) if upcoming else ""

    def _show_scene(self) -> None:
        self.scene.devices = {d.value: self.health.state(d).value for d in Device}
        self.scene.banners = list(self.news)
        self.display.set_scene(Scene.from_dict(self.scene.__dict__))

    def _problems(self) -> list[str]:
        return [f"no {device.value}" for device in self.health.problems()]

    def _health_changed(self) -> None:
        """Any thread: a device went missing or came back."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._publish_health)
        except RuntimeError:  # the loop closed meanwhile: the agent is exiting
            pass

    def _publish_health(self) -> None:
        if self._closed:
            return
        self._show_scene()
        self.status.update(devices=self.health.as_dict(), problems=self._problems())
        if self.session is not None:
            self._act(self.session.report_devices())

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # ------------------------------------------------------------ resources

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.health.subscribe(self._health_changed)
        self._set_status(State.STARTING)
        video, audio = self.options.video_source, self.options.audio_source
        wants_echo = audio.kind == "mic" and self.options.audio_output != "none"
        if wants_echo and self.options.echo_cancel:
            try:
                self.echo = EchoCanceller()
            except Exception as exc:  # the native library failed to load
                logger.error("echo cancellation unavailable: %s", exc)
        self.display = open_display(self.options.display, self.on_key, self.health)
        self.playback = open_playback(self.options.audio_output, self.health, self.echo)
        if video.kind == "camera":
            self.camera = Camera(video.arg, self.health)
            self.camera.check()
        else:
            self.health.set(Device.CAMERA, _state_of(video), str(video))
        if audio.kind == "mic":
            try:
                self.microphone = Microphone(audio.arg, self.health, self.echo)
            except Exception as exc:  # the sound library is missing
                self.health.missing(Device.MICROPHONE, f"{exc}: install the 'agent' extra")
        else:
            self.health.set(Device.MICROPHONE, _state_of(audio), str(audio))
        self._show_scene()
        if self.options.record_received is not None:
            self.recorder = ReceivedRecorder(self.options.record_received)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        tasks = list(self._actions)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.recorder is not None:
            await self.recorder.close()
        self.display.close()
        self.playback.close()
        for device in (self.camera, self.microphone):
            if device is not None:
                device.close()
        await self.api.close()
        if self.status.state is not State.REVOKED:
            self.status.update(State.STOPPED, message=None)

    def _revoked(self, exc: CredentialRevoked) -> None:
        logger.error("%s", exc)
        self.status.update(State.REVOKED, message=str(exc))


def _state_of(spec: SourceSpec) -> DeviceState:
    return DeviceState.OFF if spec.kind == "none" else DeviceState.OK


def _quality(stats: StatsReport | None, audio_only: bool = False) -> str:
    """The strip's network word from the last report: the hub's verdict on the same numbers
    (streamhub.quality), so the room and the lecturer's tile agree."""
    if stats is None or stats.loss is None:
        return "poor" if audio_only else "unknown"
    return judge(stats.loss, stats.rtt_ms, stats.fps, stats.bitrate_kbps, audio_only).quality


def _local_time(lesson: LessonInfo) -> str:
    """The lesson's start in this PC's time zone: what the room's clock shows."""
    return lesson.scheduled_start.astimezone().strftime("%Y-%m-%d %H:%M")
