"""The in-process recorder of a hub: records every live lesson as a hidden subscriber, finalizes
it when the lesson ends, and on start-up resumes live lessons and finalizes what a crash left.

A plug-in of the hub (``streamhub.lesson.extension.LessonExtension``), composed by whoever
builds the app (``recorder.plugin``)."""

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
from recorder.writer import is_disk_full
from streamhub.catalog.models import utcnow
from streamhub.lesson.answers_record import chapters, lesson_record
from streamhub.lesson.ports import LessonInfo
from streamhub.lesson.registry import hub_recorder_sub
from streamhub.protocol import Role
from streamhub.signaling.local import LocalSession

if TYPE_CHECKING:
    from streamhub.auth.tokens import TokenIssuer
    from streamhub.catalog.store import Catalog
    from streamhub.config import Settings
    from streamhub.lesson.registry import LessonRegistry

logger = logging.getLogger(__name__)
RETRY_S = 1.0
SPACE_POLL_S = 2.0
# How often every node looks for ended lessons' recordings that a dead node left unfinished.
ORPHAN_CHECK_S = 5.0
# Recording states: a live lesson's recording is recording, or stopped (e.g. the disk is
# full); then finalizing, and ready or failed.
LIVE_STATES = ("recording", "stopped")
UNFINISHED = (*LIVE_STATES, "finalizing")


def _base_note(note: str) -> str:
    """A recording's note: its first line lasts (why it is partial); the second says what a
    finalize waits for, until it is done."""
    return note.split("\n", 1)[0]


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


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
        self.node_id = settings.effective_node_id
        self.active: dict[int, Active] = {}
        self.progress: dict[int, float] = {}
        self._starting: dict[int, asyncio.Future[None]] = {}
        # Recordings this node is finalizing, and waiting to finalize again.
        self._finalizing: set[int] = set()
        self._waiting: set[int] = set()
        # Nodes that recordings name and the node registry does not: since when (monotonic).
        self._missing: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # The lesson hooks are in place already (the app wires a plug-in's before its start).
        self._spawn(self._orphan_watch(), "recorder-orphans")
        live = {info.id: info for info in await self.catalog.live_lessons()}
        # What this node's previous run (or a dead node) left of ended lessons is finalized;
        # a live lesson's recording is resumed below, into the same recording.
        await self.adopt_orphans()
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
        self.lessons.set_recording(lesson_id, recording, reason)

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
            r
            for r in await self.catalog.recordings_in_state(*LIVE_STATES)
            if r.lesson_id == info.id
        ]
        if existing:
            rec = existing[0]
        else:
            directory = f"lesson-{info.id}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
            rec = await self.catalog.create_recording(info.id, directory)
        # This node writes it now: if it dies, another finalizes what it wrote.
        await self.catalog.update_recording(rec.id, node_id=self.node_id)
        active = Active(rec.id, self.root / rec.directory)
        self.active[info.id] = active
        active.task = self._spawn(self._record(info, active), f"record-{info.id}")

    async def _record(self, info: LessonInfo, active: Active) -> None:
        while True:
            # A fresh token per attempt: a lesson may outlast the token lifetime.
            token = self.tokens.issue(
                # The hub's own identity: a `recorder record` token never shares it.
                sub=hub_recorder_sub(info.id, self.lessons.live.node.id),
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
                keyframe_every_s=self.settings.recorder.keyframe_every_s,
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
            if session.stopped_reason is not None:
                await self._recording_stopped(info, active, session)
                if not await self._wait_for_space(info):
                    return
                logger.info("recording resumes: disk space is back", extra={"lesson": info.id})
                await self.catalog.update_recording(active.recording_id, state="recording")
            await asyncio.sleep(RETRY_S)

    async def _recording_stopped(
        self, info: LessonInfo, active: Active, session: RecordingSession
    ) -> None:
        """Recording stopped while the lesson goes on: the lecturer is told at once, the
        recording is marked partial (what is on disk is kept and finalized), admins see why."""
        reason = session.stopped_reason or "recording stopped"
        writer = session.writer
        at = writer.failed_at if writer is not None and writer.failed_at is not None else 0.0
        first = writer.first_t if writer is not None and writer.first_t is not None else 0.0
        when = _clock(max(0.0, at - first))
        logger.warning("recording stopped: %s", reason, extra={"lesson": info.id})
        self._announce(info.id, False, f"recording stopped at {when}: {reason}")
        rec = await self.catalog.get_recording(active.recording_id)
        note = _base_note(rec.note)
        note = f"{note}; " if note else ""
        await self.catalog.update_recording(
            active.recording_id,
            state="stopped",
            partial=True,
            note=f"{note}stopped at {when}: {reason}",
        )

    async def _wait_for_space(self, info: LessonInfo) -> bool:
        """Wait until the disk has room again (the start-up floor); False if the lesson
        ended first."""
        floor = self.settings.recorder.disk_floor_mb
        loop = asyncio.get_running_loop()
        while info.id in self.lessons.rooms:
            free = await loop.run_in_executor(None, self.free_mb)
            if free >= max(floor, self.settings.recorder.resume_free_mb):
                return True
            await asyncio.sleep(SPACE_POLL_S)
        return False

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
        self._waiting.add(active.recording_id)  # still being written: no sweep adopts it
        try:
            if active.task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(active.task), 10)
                except TimeoutError:
                    active.task.cancel()
                    await asyncio.gather(active.task, return_exceptions=True)
        finally:
            self._waiting.discard(active.recording_id)
        await self.finalize_recording(active.recording_id)

    # ------------------------------------------------------------ a dead node's recordings

    async def lesson_ended_elsewhere(self, lesson_id: int) -> None:
        await self.adopt_orphans(lesson_id)

    async def _orphan_watch(self) -> None:
        while True:
            await asyncio.sleep(ORPHAN_CHECK_S)
            try:
                await self.adopt_orphans()
            except Exception:
                logger.warning("recorder: orphaned recordings not checked", exc_info=True)

    async def adopt_orphans(self, lesson_id: int | None = None) -> None:
        """Finalize the recordings of ended lessons whose node is gone (it died, or this
        node's previous run did): otherwise they stay 'recording' until that node returns."""
        recordings = [
            r
            for r in await self.catalog.recordings_in_state(*UNFINISHED)
            if (lesson_id is None or r.lesson_id == lesson_id)
            and r.lesson.status == "ended"
            and r.id not in self._finalizing
            and r.id not in self._waiting
        ]
        if not recordings:
            return
        try:
            alive = {node.id for node in await self.lessons.live.nodes()}
        except Exception:
            return  # without the node registry, nobody can tell who is gone
        alive.add(self.node_id)
        now = time.monotonic()
        for node_id in list(self._missing):
            if node_id in alive:
                del self._missing[node_id]
        # With nodes sharing Redis, a node is gone once it has been missing from the registry
        # a while: right after a Redis restart every live node is missing until its next beat.
        grace = 2 * self.settings.live_ttl_s if self.settings.redis_url else 0.0
        mine = {a.recording_id for a in self.active.values()}
        for rec in recordings:
            missing_since = (
                self._missing.setdefault(rec.node_id, now) if rec.node_id not in alive else now
            )
            gone = rec.node_id not in alive and now - missing_since >= grace
            left_by_me = rec.node_id == self.node_id and rec.id not in mine
            if not (gone or left_by_me) or rec.id in mine:
                continue
            if not await self.catalog.claim_recording(rec.id, rec.node_id, self.node_id):
                continue  # another node adopted it
            logger.info(
                "finalizing recording %s of ended lesson %s left by node %r",
                rec.id,
                rec.lesson_id,
                rec.node_id or "(unknown)",
            )
            self._spawn(self.finalize_recording(rec.id), f"finalize-{rec.id}")

    # ------------------------------------------------------------ finalizing

    async def finalize_recording(self, recording_id: int) -> None:
        if recording_id in self._finalizing:
            return
        self._finalizing.add(recording_id)
        try:
            await self._finalize(recording_id)
        finally:
            self._finalizing.discard(recording_id)

    async def _lesson_chapters(self, lesson_id: int) -> list[tuple[float, str, str]]:
        """The lesson's questions and the lecturer's marks, for the manifest's chapters (none
        if the catalog cannot say: the recording is finished without them)."""
        try:
            events = await self.catalog.lesson_events(lesson_id)
        except Exception:
            logger.warning("lesson %s: chapters not read", lesson_id, exc_info=True)
            return []
        return [(c.at.timestamp(), c.title, c.kind) for c in chapters(lesson_record(events))]

    async def _finalize(self, recording_id: int) -> None:
        rec = await self.catalog.update_recording(
            recording_id, state="finalizing", progress=0.0, node_id=self.node_id
        )
        directory = self.root / rec.directory
        self.progress[recording_id] = 0.0
        loop = asyncio.get_running_loop()
        lesson_chapters = await self._lesson_chapters(rec.lesson_id)

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
                    lesson_chapters=lesson_chapters,
                    keyframe_every_s=self.settings.recorder.keyframe_every_s,
                    regrid_h264=self.settings.recorder.regrid_h264,
                ),
            )
        except Exception as exc:
            if is_disk_full(exc):
                # Nothing is lost: the segments stay, and finalizing is tried again later.
                await self._finalize_later(recording_id, exc)
                return
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
            note=_base_note(rec.note),
            progress=1.0,
            duration_s=float(manifest["duration_s"]),
            size_bytes=size,
            has_screen=manifest["files"].get("screen") is not None,
            ended_at=utcnow(),
        )
        logger.info("recording %s ready", recording_id)
        # The county's data feed (streamhub.feed): kept in the catalog, where the hub's webhook
        # sender finds it at its next look.
        page = f"{self.settings.effective_public_url}/library#recording={recording_id}"
        try:
            await self.catalog.add_feed_event(
                "recording.ready",
                rec.lesson_id,
                {
                    "recording_id": recording_id,
                    "lesson_id": rec.lesson_id,
                    "duration_s": float(manifest["duration_s"]),
                    "size_bytes": size,
                    "page": page,
                },
            )
        except Exception:  # the recording is ready whatever happens to its event
            logger.exception("recording %s: feed event not kept", recording_id)

    async def _finalize_later(self, recording_id: int, exc: BaseException) -> None:
        retry = self.settings.recorder.finalize_retry_s
        logger.warning(
            "recording %s: no disk space to finalize; retrying in %.0f s", recording_id, retry
        )
        rec = await self.catalog.get_recording(recording_id)
        waiting = f"waiting for disk space to finalize; retrying every {retry:g} s"
        base = _base_note(rec.note)
        await self.catalog.update_recording(
            recording_id,
            state="finalizing",
            progress=0.0,
            note=f"{base}\n{waiting}",
        )

        async def later() -> None:
            try:
                await asyncio.sleep(retry)
            finally:
                self._waiting.discard(recording_id)
            await self.finalize_recording(recording_id)

        self._waiting.add(recording_id)  # waiting here: not an orphan for any sweep
        self._spawn(later(), f"finalize-retry-{recording_id}")
