"""The unattended classroom agent: wait for the classroom's lessons, join each when it goes
live, rejoin after any loss (backoff with jitter), stop for good on a refused credential.

Display, playback, echo canceller and recorder outlive sessions; a session is one stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from aiortc.mediastreams import MediaStreamTrack
from websockets.exceptions import WebSocketException

from classroom_agent.backoff import Backoff
from classroom_agent.config import AgentConfig
from classroom_agent.display import Display, NullDisplay, open_display
from classroom_agent.echo import EchoCanceller
from classroom_agent.errors import CredentialRevoked, HubUnavailable, NoLiveLesson
from classroom_agent.hub_api import DeviceApi
from classroom_agent.media_sources import SourceSpec, audio_track, video_track
from classroom_agent.playback import NullPlayback, Playback, open_playback
from classroom_agent.quality import Meter
from classroom_agent.recording import ReceivedRecorder
from classroom_agent.scheduler import Announcer, live_lesson, next_lesson
from classroom_agent.session import ClassroomSession, Outcome, SessionOptions
from classroom_agent.status import State, StatusFile
from streamhub.client import ClientError, LessonClient

logger = logging.getLogger(__name__)


@dataclass
class AgentOptions:
    video_source: SourceSpec = field(default_factory=lambda: SourceSpec("testpattern"))
    audio_source: SourceSpec = field(default_factory=lambda: SourceSpec("tone"))
    display: str = "none"
    audio_output: str = "none"
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
        self.api = DeviceApi(config.hub, config.credential)
        self.meter = Meter()
        self.session: ClassroomSession | None = None
        self.muted = False
        self.sessions = 0
        self.display: Display = NullDisplay()
        self.playback: Playback = NullPlayback()
        self.echo: EchoCanceller | None = None
        self.recorder: ReceivedRecorder | None = None
        self._announcer = Announcer()
        self._backoff = Backoff(cap_s=options.backoff_cap_s)
        self._stopping = asyncio.Event()
        self._actions: set[asyncio.Task[None]] = set()
        self._left: set[int] = set()
        self._lesson_title = ""
        self.session_lesson_id: int | None = None
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
        """From the display thread (through the loop): h, m, q."""
        if action == "leave":
            self.leave()
        elif action == "hand" and self.session is not None:
            self._act(self.session.toggle_hand())
        elif action == "mute":
            self._act(self.toggle_mute())

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
                lessons = await self.api.lessons()
            except HubUnavailable as exc:
                delay = self._backoff.next_delay()
                logger.warning("hub unreachable (%s); retrying in %.1fs", exc, delay)
                self._set_status(State.RECONNECTING, message="hub unreachable")
                await self._sleep(delay)
                continue
            self._backoff.reset()
            live_ids = {x.id for x in lessons if x.live}
            self._left &= live_ids  # a lesson we left is joinable again once it ends
            lesson = live_lesson(lessons, self._left)
            if lesson is not None:
                return lesson.join_code
            upcoming = next_lesson(lessons)
            text = self._announcer.announce(upcoming)
            self._set_status(
                State.WAITING,
                message=text,
                next_lesson=(
                    {"title": upcoming.title, "at": upcoming.scheduled_start.isoformat()}
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
            self._set_status(State.WAITING, message=f"lesson {outcome.value}", lesson_code=None)
            if outcome is Outcome.LEFT and self.session_lesson_id is not None:
                self._left.add(self.session_lesson_id)
            return

    async def _one_session(self, code: str) -> Outcome:
        token = await self.api.token(code)  # a fresh exchange on every (re)join
        self.session_lesson_id = token.lesson_id
        self._lesson_title = token.lesson_title
        client = LessonClient(
            self.config.hub,
            token.token,
            ice_host_addresses=self.options.ice_host_addresses,
            name=self.options.name,
            # H.264 first (the hub's default lesson codec: recordings remux), VP8 as fallback.
            codecs=("H264", "VP8", "opus"),
        )
        camera = video_track(self.options.video_source)
        if self.options.video_source.kind != "none" and camera is None:
            self.display.set_status("no camera")
        session = ClassroomSession(
            client,
            camera=camera,
            microphone=self._microphone,
            muted=self.muted,
            display=self.display,
            playback=self.playback,
            recorder=self.recorder,
            meter=self.meter,
            options=self.options.session,
            on_change=self._session_changed,
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

    def _microphone(self) -> MediaStreamTrack | None:
        return audio_track(self.options.audio_source, lambda: self.echo)

    def _session_changed(self) -> None:
        session = self.session
        if session is None:
            return
        flags = [self._lesson_title or "in lesson"]
        if session.hand_raised:
            flags.append("hand raised")
        if session.muted:
            flags.append("muted")
        if session.audio_only:
            flags.append("audio only")
        if session.camera is None:
            flags.append("no camera")
        if session.last_stats is not None:
            flags.append(f"{session.last_stats.fps or 0:.0f} fps")
        self.display.set_status(" | ".join(flags))
        stats = (
            session.last_stats.model_dump(exclude={"type", "id"}) if session.last_stats else None
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
        )

    def _set_status(self, state: State, **fields: object) -> None:
        self.display.set_status(str(fields.get("message") or state.value.replace("_", " ")))
        self.status.update(state, **fields)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # ------------------------------------------------------------ resources

    async def _open(self) -> None:
        self._set_status(State.STARTING)
        wants_echo = self.options.audio_source.kind == "mic" and self.options.audio_output != "none"
        if wants_echo:
            try:
                self.echo = EchoCanceller()
            except Exception as exc:  # the native library failed to load
                logger.warning("echo cancellation unavailable: %s", exc)
        self.display = open_display(self.options.display, self.on_key)
        self.playback = open_playback(self.options.audio_output, self.echo)
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
        await self.api.close()
        if self.status.state is not State.REVOKED:
            self.status.update(State.STOPPED, message=None)

    def _revoked(self, exc: CredentialRevoked) -> None:
        logger.error("%s", exc)
        self.status.update(State.REVOKED, message=str(exc))
