"""The in-process recorder of a hub: records every live lesson as a hidden subscriber, finalizes
it when the lesson ends, and on start-up resumes live lessons and finalizes what a crash left."""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.finalize import FinalizeError, archive_size, finalize
from recorder.session import RecordingSession
from streamhub.catalog.models import utcnow
from streamhub.lesson.ports import LessonInfo
from streamhub.protocol import RecordingChanged, Role
from streamhub.signaling.local import LocalSession

if TYPE_CHECKING:
    from streamhub.auth.tokens import TokenIssuer
    from streamhub.catalog.store import Catalog
    from streamhub.config import Settings
    from streamhub.lesson.registry import LessonRegistry

logger = logging.getLogger(__name__)
RETRY_S = 1.0


@dataclass
class Active:
    recording_id: int
    directory: Path
    task: asyncio.Task[None] | None = None
    sessions: list[RecordingSession] = field(default_factory=list)


class RecorderService:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        tokens: TokenIssuer,
        lessons: LessonRegistry,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.tokens = tokens
        self.lessons = lessons
        self.root = settings.effective_recordings_dir
        self.active: dict[int, Active] = {}
        self.progress: dict[int, float] = {}
        self._starting: dict[int, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.lessons.on_lesson_started.append(self.lesson_started)
        self.lessons.on_lesson_ended.append(self.lesson_ended)
        live = {info.id: info for info in await self.catalog.live_lessons()}
        for rec in await self.catalog.recordings_in_state("recording", "finalizing"):
            if rec.state == "recording" and rec.lesson_id in live:
                continue  # resumed below, into the same recording
            self._spawn(self.finalize_recording(rec.id), f"finalize-{rec.id}")
        # A restarted hub takes its live lessons back at once, so recording resumes even
        # before anyone rejoins.
        for info in live.values():
            await self.lessons.go_live(info)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: object, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------ recording

    def free_mb(self) -> float:
        self.root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.root).free / (1 << 20)

    def _announce(self, lesson_id: int, recording: bool, reason: str | None = None) -> None:
        room = self.lessons.rooms.get(lesson_id)
        if room is not None:
            room.recording = recording
            room.recording_note = reason
            room.broadcast(RecordingChanged(recording=recording, reason=reason))

    async def lesson_started(self, info: LessonInfo) -> None:
        if (
            not self.settings.recorder.enabled
            or info.id in self.active
            or info.id in self._starting
        ):
            return
        # A lesson may end while this awaits the disk and the catalog: lesson_ended waits
        # for the set-up, so the recording it made is ended and finalized, not left behind.
        starting = asyncio.get_running_loop().create_future()
        self._starting[info.id] = starting
        try:
            await self._start_recording(info)
        finally:
            del self._starting[info.id]
            starting.set_result(None)

    async def _start_recording(self, info: LessonInfo) -> None:
        floor = self.settings.recorder.disk_floor_mb
        free = await asyncio.get_running_loop().run_in_executor(None, self.free_mb)
        if free < floor:
            reason = (
                f"not recording: only {free:.0f} MB free on the recordings disk "
                f"(the floor is {floor} MB)"
            )
            logger.warning(reason, extra={"lesson": info.id})
            self._announce(info.id, False, reason)
            return
        existing = [
            r for r in await self.catalog.recordings_in_state("recording") if r.lesson_id == info.id
        ]
        if existing:
            rec = existing[0]
        else:
            directory = f"lesson-{info.id}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
            rec = await self.catalog.create_recording(info.id, directory)
        active = Active(rec.id, self.root / rec.directory)
        self.active[info.id] = active
        active.task = self._spawn(self._record(info, active), f"record-{info.id}")

    async def _record(self, info: LessonInfo, active: Active) -> None:
        while True:
            # A fresh token per attempt: a lesson may outlast the token lifetime.
            token = self.tokens.issue(
                sub=f"recorder-{info.id}",
                role=Role.RECORDER,
                lesson=info.id,
                name="Recorder",
                can_subscribe=True,
                hidden=True,
                lesson_key=info.row_key,
            )
            session = RecordingSession(
                functools.partial(LocalSession, self.lessons, self.settings, token),
                active.directory,
            )
            active.sessions.append(session)
            watcher = asyncio.create_task(self._when_connected(info.id, session))
            try:
                await session.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("recording session failed; retrying", extra={"lesson": info.id})
            finally:
                watcher.cancel()
            if session.lesson_ended or info.id not in self.lessons.rooms:
                return
            await asyncio.sleep(RETRY_S)

    async def _when_connected(self, lesson_id: int, session: RecordingSession) -> None:
        await session.connected.wait()
        self._announce(lesson_id, True)

    async def lesson_ended(self, info: LessonInfo) -> None:
        starting = self._starting.get(info.id)
        if starting is not None:
            await starting
        active = self.active.pop(info.id, None)
        if active is None:
            return
        if active.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(active.task), 10)
            except TimeoutError:
                active.task.cancel()
                await asyncio.gather(active.task, return_exceptions=True)
        await self.finalize_recording(active.recording_id)

    # ------------------------------------------------------------ finalizing

    async def finalize_recording(self, recording_id: int) -> None:
        rec = await self.catalog.update_recording(recording_id, state="finalizing", progress=0.0)
        directory = self.root / rec.directory
        self.progress[recording_id] = 0.0
        loop = asyncio.get_running_loop()

        def report(fraction: float) -> None:
            self.progress[recording_id] = fraction

        async def publish_progress() -> None:
            while True:
                await asyncio.sleep(1.0)
                await self.catalog.update_recording(
                    recording_id, progress=round(self.progress.get(recording_id, 0.0), 3)
                )

        reporter = asyncio.create_task(publish_progress())
        try:
            manifest = await loop.run_in_executor(
                None,
                lambda: finalize(
                    directory,
                    thumbnail_every_s=self.settings.recorder.thumbnail_every_s,
                    progress=report,
                ),
            )
        except Exception as exc:
            # Whatever went wrong (a codec error, a bug), the recording must not stay
            # "finalizing" and be retried at every start-up: it is marked failed, with why.
            if isinstance(exc, FinalizeError | OSError):
                logger.warning("recording %s failed: %s", recording_id, exc)
            else:
                logger.exception("recording %s failed", recording_id)
            await self.catalog.update_recording(
                recording_id, state="failed", failure_reason=str(exc)[:500]
            )
            return
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            self.progress.pop(recording_id, None)
        size = await loop.run_in_executor(None, archive_size, directory)
        await self.catalog.update_recording(
            recording_id,
            state="ready",
            progress=1.0,
            duration_s=float(manifest["duration_s"]),
            size_bytes=size,
            has_screen=manifest["files"].get("screen") is not None,
            ended_at=utcnow(),
        )
        logger.info("recording %s ready", recording_id)
