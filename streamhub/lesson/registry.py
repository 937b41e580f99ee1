"""The live lessons of this hub node: rooms, joins, the periodic stats summary."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from streamhub.auth.tokens import Grant, TokenIssuer
from streamhub.config import Settings
from streamhub.errors import Forbidden, RateLimited, Redirect, StreamhubError
from streamhub.lesson.overload import OverloadGuard
from streamhub.lesson.participant import Participant
from streamhub.lesson.ports import CatalogPort, LessonEvent, LessonInfo, MetricsPort
from streamhub.lesson.room import Room
from streamhub.live.memory import MemoryLiveState
from streamhub.live.state import LESSON_LOAD, LiveEvent, LiveState, NodeInfo
from streamhub.protocol import (
    ErrorCode,
    Join,
    LessonEnded,
    ParticipantInfo,
    ParticipantStats,
    Role,
    Slot,
    StatsReport,
    StatsSummary,
)
from streamhub.quality import Verdict, judge

logger = logging.getLogger(__name__)

LIVE_ROLES = frozenset({Role.LECTURER, Role.CLASSROOM, Role.RECORDER})
LessonHook = Callable[[LessonInfo], Awaitable[None]]


def hub_recorder_sub(lesson_id: int, node_id: str) -> str:
    """The identity of a hub node's own recorder in a lesson (no token handed out has it)."""
    return f"recorder-{lesson_id}-hub-{node_id}"


class JoinRefused(StreamhubError):
    """The join was refused."""

    status = 403


def quality_of(loss: float, rtt_ms: float | None, fps: float | None) -> str:
    """The verdict's word (thresholds: streamhub.quality)."""
    return judge(loss, rtt_ms, fps).quality


def link_verdict(
    fps: float | None,
    loss: float,
    rtt_ms: float | None,
    reported: StatsReport | None,
    audio_only: bool,
) -> Verdict:
    """A member's link: what the hub measures of it, and what it says it receives (the lower
    of the frame rates: a slide show either way is what the lecturer must know)."""
    rates = [x for x in (fps, reported.fps if reported else None) if x]
    kbps = reported.bitrate_kbps if reported else None
    return judge(loss, rtt_ms, min(rates) if rates else fps, kbps, audio_only)


RECORDER_GRACE_S = 1.0
QUALITY_SCORE = {"good": 1.0, "fair": 0.6, "poor": 0.2}


class LessonRegistry:
    def __init__(
        self,
        settings: Settings,
        catalog: CatalogPort,
        tokens: TokenIssuer,
        metrics: MetricsPort | None = None,
        live: LiveState | None = None,
    ) -> None:
        self.settings = settings
        self.live: LiveState = live or MemoryLiveState(
            NodeInfo(settings.effective_node_id, settings.effective_node_url)
        )
        self.metrics = metrics
        self.catalog = catalog
        self.tokens = tokens
        # Written here only (the one writer of live state); others read ``rooms``.
        self._rooms: dict[int, Room] = {}
        self.on_lesson_started: list[LessonHook] = []
        self.on_lesson_ended: list[LessonHook] = []
        self.on_lesson_ended_elsewhere: list[Callable[[int], Awaitable[None]]] = []
        # (room, member, reason) after a member left a room held here (the roster's "dropped").
        self.on_member_left: list[Callable[[Room, Participant, str], None]] = []
        self._joins: dict[str, deque[float]] = defaultdict(deque)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stats_task: asyncio.Task[None] | None = None
        self._attendance_task: asyncio.Task[None] | None = None
        self._reconcile_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # Lesson events (quick replies, answers, marks) waiting for the catalog, and the one
        # task writing them, in order and in batches.
        self._events: list[LessonEvent] = []
        self._events_writer: asyncio.Task[None] | None = None
        self.join_latencies: deque[float] = deque(maxlen=1000)
        self.overload = OverloadGuard(
            settings.capacity, lambda: tuple(self._rooms.values()), on_change=self.note_audio_only
        )

    @property
    def rooms(self) -> Mapping[int, Room]:
        """The rooms held on this node, read-only: every change goes through the registry."""
        return MappingProxyType(self._rooms)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._stats_task = loop.create_task(self._stats_loop(), name="stats")
        self._attendance_task = loop.create_task(self._attendance_loop(), name="attendance")
        self._reconcile_task = loop.create_task(self._reconcile_loop(), name="reconcile")
        self.overload.start()
        await self.live.start(
            self._on_live_event,
            self.load,
            lambda: tuple(self._rooms),
            on_reconnect=self._reconnected,
        )

    async def close(self) -> None:
        await self.overload.close()
        for task in (self._stats_task, self._attendance_task, self._reconcile_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for room in list(self._rooms.values()):
            for member in list(room.members.values()):
                self.close_member(member, ErrorCode.SHUTDOWN, "the hub is shutting down")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._rooms.clear()
        await self.live.close()

    def spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("task %s failed", task.get_name(), exc_info=task.exception())

    # ------------------------------------------------------------ kept with the lesson

    def keep_event(self, event: LessonEvent) -> None:
        """Write a room's event to the catalog in the background: a quick reply or an answer
        never waits on the database."""
        self._events.append(event)
        if self._events_writer is None or self._events_writer.done():
            self._events_writer = asyncio.get_running_loop().create_task(
                self._write_events(), name="lesson-events"
            )

    async def _write_events(self) -> None:
        while self._events:
            batch, self._events = self._events, []
            try:
                await self.catalog.add_lesson_events(batch)
            except Exception:
                logger.exception("%d lesson events not kept", len(batch))

    async def _numbering(self, lesson_id: int) -> tuple[int, int]:
        """Where the lesson's questions and marks number on from: a room made again mid-lesson
        (this hub restarted, or the lesson moved here) continues the catalog's numbering, so the
        pages' "Question 4" is the export's."""
        try:
            # An earlier room's events of this lesson may still be on their way.
            await asyncio.wait_for(self.events_written(), 5)
            questions, marks = await asyncio.wait_for(self.catalog.lesson_numbering(lesson_id), 5)
        except Exception:  # the catalog is down: the lesson starts all the same, from 1
            logger.warning("lesson events: numbering not read", extra={"lesson": lesson_id})
            questions = marks = 0
        # ...or kept while they were being written.
        pending = [e for e in self._events if e.lesson_id == lesson_id]
        questions = max([questions, *(e.question or 0 for e in pending if e.kind == "question")])
        return questions, marks + sum(e.kind == "mark" for e in pending)

    async def events_written(self) -> None:
        """Wait until every event kept so far is in the catalog (a lesson's end, tests)."""
        writer = self._events_writer
        if writer is not None:
            await asyncio.shield(writer)

    # ------------------------------------------------------------ lesson lifecycle

    async def start_lesson(self, info: LessonInfo) -> Room:
        room = self._rooms.get(info.id)
        if room is not None:
            return room
        # Read before the lock: a slow catalog must not hold up other lessons' starts and ends.
        numbering = await self._numbering(info.id)
        async with self._lock:
            room = self._rooms.get(info.id)
            if room is None:
                room = Room(info)
                room.keep = self.keep_event
                room.questions_asked, room.marks = numbering
                self._rooms[info.id] = room
                logger.info("lesson live", extra={"lesson": info.id})
                for hook in self.on_lesson_started:
                    self.spawn(hook(info), f"lesson-started:{info.id}")
            return room

    async def end_lesson(self, lesson_id: int) -> None:
        async with self._lock:
            room = self._rooms.pop(lesson_id, None)
        if room is None:
            # Held elsewhere, or by a node that died: its leftovers may be this node's to tidy.
            for gone in self.on_lesson_ended_elsewhere:
                self.spawn(gone(lesson_id), f"lesson-ended-elsewhere:{lesson_id}")
            return
        room.stop_timers()
        room.broadcast(LessonEnded())
        hidden = [m for m in room.members.values() if m.hidden]
        for member in list(room.members.values()):
            if not member.hidden:
                self.close_member(member, ErrorCode.LESSON_ENDED, "the lesson has ended")
        if hidden:
            # The recorder stays a moment longer: the last frames are still on their way.
            self.spawn(self._close_later(hidden, RECORDER_GRACE_S), f"lesson-end:{lesson_id}")
        logger.info("lesson ended", extra={"lesson": lesson_id})
        try:
            # The recording's chapters are read from the catalog when it is finished.
            await asyncio.wait_for(self.events_written(), 5)
        except Exception:
            logger.warning("lesson events: not all written", extra={"lesson": lesson_id})
        try:
            await self.live.release(lesson_id)
        except Exception:  # the shared store may be down; its keys expire by themselves
            logger.warning("live state: release failed", extra={"lesson": lesson_id})
        for hook in self.on_lesson_ended:
            self.spawn(hook(room.lesson), f"lesson-ended:{lesson_id}")

    def load(self) -> int:
        """This node's load, for choosing where new lessons go."""
        members = sum(len(room.members) for room in self._rooms.values())
        return members + LESSON_LOAD * len(self._rooms)

    async def go_live(self, info: LessonInfo) -> None:
        """A lesson went live: its node (this one, or the least loaded) opens its room."""
        owner = await self.live.claim(info.id)
        if owner.id == self.live.node.id:
            await self.start_lesson(info)
        else:
            await self.live.publish(LiveEvent("start_lesson", info.id))

    async def finish(self, lesson_id: int) -> None:
        """A lesson ended: every node closes what it holds of it."""
        await self.end_lesson(lesson_id)
        await self._tell_nodes(LiveEvent("end_lesson", lesson_id))

    async def revoke_everywhere(self, credential_id: int) -> None:
        await self.revoke_credential(credential_id)
        await self._tell_nodes(LiveEvent("revoke_credential", credential_id))

    async def _tell_nodes(self, event: LiveEvent) -> None:
        """Tell the other nodes at once if the shared store can; the catalog already holds
        the change, and every node's reconciliation applies it anyway (``reconcile``)."""
        try:
            await self.live.publish(event)
        except Exception:
            logger.warning(
                "live state: %s %s not published; the nodes' reconciliation applies it",
                event.kind,
                event.ident,
            )

    async def revoke_token_everywhere(self, token_id: int) -> None:
        """A lecturer link or staff token was revoked: every node closes its sessions."""
        await self.revoke_token(token_id)
        await self._tell_nodes(LiveEvent("revoke_token", token_id))

    async def _on_live_event(self, event: LiveEvent) -> None:
        if event.kind == "end_lesson":
            await self.end_lesson(event.ident)
        elif event.kind == "revoke_credential":
            await self.revoke_credential(event.ident)
        elif event.kind == "revoke_token":
            await self.revoke_token(event.ident)
        elif event.kind == "update_lesson":
            if event.ident in self._rooms:
                info = await self.catalog.lesson_info(event.ident)
                if info is not None:
                    self.apply_lesson(info)
        elif event.kind == "start_lesson":
            owner = await self.live.claim(event.ident)
            info = await self.catalog.lesson_info(event.ident)
            if owner.id == self.live.node.id and info is not None and info.status == "live":
                await self.start_lesson(info)

    async def _close_later(self, members: list[Participant], delay: float) -> None:
        await asyncio.sleep(delay)
        for member in members:
            self.close_member(member, ErrorCode.LESSON_ENDED, "the lesson has ended")

    # ------------------------------------------------------------ the one writer of rooms

    async def update_lesson(self, info: LessonInfo) -> None:
        """The lesson row changed (its invitations, its title): the node that holds its room
        applies it, whichever node the change came through."""
        self.apply_lesson(info)
        await self._tell_nodes(LiveEvent("update_lesson", info.id))

    def apply_lesson(self, info: LessonInfo) -> None:
        """The change, on this node: a live lesson's invitations take effect at once, both
        ways (a classroom no longer invited is closed)."""
        room = self._rooms.get(info.id)
        if room is None:
            return
        room.apply_lesson(info)
        for member in list(room.members.values()):
            if member.role is Role.CLASSROOM and not info.admits_classroom(member.classroom_id):
                reason = "this classroom is no longer invited to the lesson"
                self.close_member(member, ErrorCode.NOT_INVITED, reason)

    def set_recording(self, lesson_id: int, recording: bool, note: str | None = None) -> None:
        """Whether the lesson held here is being recorded, and why not; its members are told.
        Only the holder records a lesson, so no other node needs to know."""
        room = self._rooms.get(lesson_id)
        if room is not None:
            room.apply_recording(recording, note)

    @staticmethod
    def close_member(member: Participant, code: ErrorCode, reason: str) -> None:
        """End a member's session (it leaves its room as its transport closes)."""
        member.close(code, reason)

    def participants(self, lesson_id: int) -> list[ParticipantInfo]:
        room = self._rooms.get(lesson_id)
        return room.visible() if room is not None else []

    def stats(self, lesson_id: int) -> list[ParticipantStats]:
        room = self._rooms.get(lesson_id)
        if room is None:
            return []
        return [p.stats for p in room.members.values() if p.stats is not None and not p.hidden]

    async def revoke_credential(self, credential_id: int, at: datetime | None = None) -> None:
        """Close the sessions of a revoked credential; their attendance ends at ``at`` (the
        revocation, when this node learns of it late)."""
        for room in list(self._rooms.values()):
            for member in list(room.members.values()):
                if member.grant.credential_id == credential_id:
                    member.gone_at = at
                    self.close_member(
                        member, ErrorCode.CREDENTIAL_REVOKED, "the device credential was revoked"
                    )

    async def revoke_token(self, token_id: int) -> None:
        for room in list(self._rooms.values()):
            for member in list(room.members.values()):
                if member.grant.token_id == token_id:
                    self.close_member(member, ErrorCode.TOKEN_REVOKED, "this link was revoked")

    # ------------------------------------------------------------ joining

    def check_join_rate(self, sub: str) -> None:
        window = self._joins[sub]
        now = time.monotonic()
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.settings.signaling.joins_per_minute:
            raise RateLimited("too many joins from this identity; wait a minute")
        window.append(now)

    async def admit(self, join: Join) -> tuple[Grant, Room]:
        """Check a join against its token, the lesson and the catalog; return the room."""
        grant = self.tokens.verify(join.token)
        if grant.role not in LIVE_ROLES:
            raise Forbidden(f"a {grant.role.value} token cannot join a live lesson")
        if grant.lesson is None:
            raise Forbidden("the token names no lesson")
        if join.lesson is not None and join.lesson != grant.lesson:
            raise Forbidden("the token is for another lesson", code=ErrorCode.WRONG_LESSON)
        self.check_join_rate(grant.sub)
        await self.catalog.check_grant(grant)
        room = self._rooms.get(grant.lesson)
        if room is None:
            # After a hub restart the catalog still says which lessons are live.
            info = await self.catalog.lesson_info(grant.lesson)
            if info is None or info.status != "live":
                raise JoinRefused("the lesson is not live", code=ErrorCode.LESSON_NOT_LIVE)
            owner = await self.live.claim(grant.lesson)
            if owner.id != self.live.node.id:
                raise Redirect(owner.url)
            room = await self.start_lesson(info)
        if grant.role is Role.CLASSROOM and not room.lesson.admits_classroom(grant.classroom_id):
            raise Forbidden(
                "this classroom is not invited to the lesson", code=ErrorCode.NOT_INVITED
            )
        if grant.role is Role.CLASSROOM:
            self.check_capacity(room, grant)
        if grant.role is not Role.RECORDER:
            room.video_codec = self.lesson_codec(room, join)
        return grant, room

    def lesson_codec(self, room: Room, join: Join) -> str:
        """The lesson's video codec: fixed by its first lecturer or classroom as the first of
        ``media.video_codecs`` (H.264 first: its recordings are remuxed, not transcoded) that it
        can send and receive; everyone after must support that one (forwarding never
        transcodes)."""
        offered = {codec.upper() for codec in join.codecs}
        if room.video_codec is not None:
            if room.video_codec not in offered:
                raise JoinRefused(
                    f"the lesson's video codec {room.video_codec} is not supported",
                    code=ErrorCode.NO_USABLE_CODEC,
                )
            return room.video_codec
        for codec in self.settings.media.video_codecs:
            if codec in offered:
                return codec
        wanted = ", ".join(self.settings.media.video_codecs)
        raise JoinRefused(
            f"none of the hub's video codecs ({wanted}) is supported",
            code=ErrorCode.NO_USABLE_CODEC,
        )

    def check_capacity(self, room: Room, grant: Grant) -> None:
        """Refuse a classroom this process cannot serve: it would be accepted only to fail,
        and take the others down with it. A classroom that rejoins replaces itself."""
        if room.by_subject(grant.sub) is not None:
            return
        capacity = self.settings.capacity
        if capacity.max_classrooms_per_lesson and (
            len(room.classrooms()) >= capacity.max_classrooms_per_lesson
        ):
            raise JoinRefused(
                f"the lesson is full ({capacity.max_classrooms_per_lesson} classrooms)",
                code=ErrorCode.LESSON_FULL,
            )
        here = sum(len(r.classrooms()) for r in self._rooms.values())
        if capacity.max_classrooms_per_node and here >= capacity.max_classrooms_per_node:
            raise JoinRefused(
                f"this hub serves {here} classrooms, its capacity; try again later",
                code=ErrorCode.NODE_FULL,
            )
        if self.overload.refusing:
            raise JoinRefused(
                "this hub is overloaded right now; try again later", code=ErrorCode.NODE_FULL
            )

    @staticmethod
    def new_participant_id(grant: Grant) -> str:
        prefix = {"lecturer": "lec", "classroom": "cls", "recorder": "rec"}.get(
            grant.role.value, "p"
        )
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    async def enter(self, room: Room, participant: Participant) -> None:
        if participant.hidden:
            # Recorders are outside replacement both ways: each records on its own, and no
            # join (not even one with the same token) cuts another recording short. Only
            # recorders from outside count against the limit: the hub's own always gets in.
            own = hub_recorder_sub(room.lesson.id, self.live.node.id)
            external = sum(1 for m in room.members.values() if m.hidden and m.grant.sub != own)
            limit = self.settings.signaling.max_recorders_per_lesson
            if participant.grant.sub != own and external >= limit:
                raise JoinRefused(
                    f"the lesson already has {external} recorders from outside the hub",
                    code=ErrorCode.TOO_MANY_RECORDERS,
                )
        else:
            previous = room.by_subject(participant.grant.sub)
            if previous is not None:
                # A classroom that rejoins after a drop replaces its stale session.
                room.remove(previous, reason="replaced")
                self.close_member(
                    previous,
                    ErrorCode.REPLACED,
                    "replaced by a new connection of the same participant",
                )
        if participant.role is Role.LECTURER and participant.feed is None:
            old = room.lecturer
            if old is not None:
                room.remove(old, reason="replaced")
                self.close_member(old, ErrorCode.REPLACED, "replaced by a new lecturer connection")
        room.add(participant)
        participant.attendance = asyncio.get_running_loop().create_task(
            self._record_join(room, participant), name=f"attendance:{participant.id}"
        )

    async def _record_join(self, room: Room, participant: Participant) -> int | None:
        try:
            return await self.catalog.attendance_joined(
                room.lesson.id,
                participant.id,
                participant.role,
                participant.name,
                participant.classroom_id,
                participant.grant.credential_id,
            )
        except Exception:
            logger.exception("attendance not recorded", extra={"lesson": room.lesson.id})
            return None

    async def leave(self, room: Room, participant: Participant, reason: str) -> None:
        room.remove(participant, reason)
        if self.metrics is not None:
            self.metrics.member_left(participant)
        for hook in self.on_member_left:
            hook(room, participant, reason)
        attendance_id = await participant.attendance if participant.attendance else None
        if participant.audio_only_row is not None:
            # Its stretch in audio only ends with the session; its row is written by now.
            await asyncio.gather(participant.audio_only_row, return_exceptions=True)
        if attendance_id is not None:
            samples = participant.quality_samples
            quality = sum(samples) / len(samples) if samples else None
            try:
                await self.catalog.attendance_left(attendance_id, quality, participant.gone_at)
            except Exception:
                logger.exception("attendance leave not recorded", extra={"lesson": room.lesson.id})

    # ------------------------------------------------------------ reconciliation

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_every_s)
            await self.reconcile()

    async def _reconnected(self) -> None:
        # Events published while the shared store was away are lost: catch up from the catalog.
        logger.info("live state: back; reconciling with the catalog")
        await self.reconcile()

    async def reconcile(self) -> None:
        """Apply to the rooms held here what the catalog says, whatever reached this node
        through the shared store: lessons ended (or deleted) are ended, a lesson's changed
        invitations apply, sessions of revoked device credentials are closed, their attendance
        ending at the revocation, and so are the sessions of revoked lecturer links and staff
        tokens."""
        rooms = list(self._rooms.values())
        if not rooms:
            return
        members = [m for room in rooms for m in room.members.values()]
        credentials = {m.grant.credential_id for m in members if m.grant.credential_id is not None}
        token_ids = {m.grant.token_id for m in members if m.grant.token_id is not None}
        try:
            lessons = await self.catalog.lesson_infos([room.lesson.id for room in rooms])
            revoked = await self.catalog.revoked_credentials(sorted(credentials))
            revoked_tokens = await self.catalog.revoked_tokens(sorted(token_ids))
        except Exception:
            logger.warning("reconcile: catalog not reachable", exc_info=True)
            return
        for room in rooms:
            info = lessons.get(room.lesson.id)
            if info is None or info.status != "live":
                logger.info("reconcile: lesson ended elsewhere", extra={"lesson": room.lesson.id})
                await self.end_lesson(room.lesson.id)
            elif info != room.lesson:
                logger.info("reconcile: lesson changed elsewhere", extra={"lesson": info.id})
                self.apply_lesson(info)
        for credential_id, at in revoked.items():
            logger.info("reconcile: credential %s revoked elsewhere", credential_id)
            await self.revoke_credential(credential_id, at)
        for token_id in sorted(revoked_tokens):
            logger.info("reconcile: token %s revoked elsewhere", token_id)
            await self.revoke_token(token_id)

    # ------------------------------------------------------------ attendance

    async def _attendance_loop(self) -> None:
        """Mark the attendance of every session held here as seen, and close the rows of
        sessions that a crash (of this node before a restart, or of another) ended, at the
        last time they were seen."""
        while True:
            try:
                await self.catalog.close_orphaned_attendance()
                await self.catalog.attendance_seen(self._attendance_ids())
            except Exception:
                logger.warning("attendance: catalog not reachable", exc_info=True)
            await asyncio.sleep(self.settings.attendance_seen_every_s)

    def note_audio_only(self, room: Room, member: Participant) -> None:
        """Record in the catalog, in the background, when a member begins or ends receiving
        sound only (the register's audio-only minutes). A stretch still open when the session
        ends is ended with it (streamhub.lesson.attendance.register), so a leave or a crash
        writes nothing here."""
        began = member.audio_only_row
        if member.receives_audio_only == (began is not None) or member.attendance is None:
            return
        at = datetime.now(UTC)
        lesson = room.lesson.id
        if began is None:
            member.audio_only_row = asyncio.get_running_loop().create_task(
                self._audio_only_began(lesson, member.attendance, at),
                name=f"audio-only:{member.id}",
            )
        else:
            member.audio_only_row = None
            self.spawn(self._audio_only_ended(lesson, began, at), f"video-again:{member.id}")

    async def _audio_only_began(
        self, lesson: int, attendance: asyncio.Task[int | None], at: datetime
    ) -> int | None:
        attendance_id = await attendance
        if attendance_id is None:
            return None
        try:
            return await self.catalog.audio_only_began(attendance_id, at)
        except Exception:
            logger.exception("audio only not recorded", extra={"lesson": lesson})
            return None

    async def _audio_only_ended(
        self, lesson: int, began: asyncio.Task[int | None], at: datetime
    ) -> None:
        interval_id = await began
        if interval_id is None:
            return
        try:
            await self.catalog.audio_only_ended(interval_id, at)
        except Exception:
            logger.exception("end of audio only not recorded", extra={"lesson": lesson})

    def _attendance_ids(self) -> list[int]:
        ids = []
        for room in list(self._rooms.values()):
            for member in list(room.members.values()):
                task = member.attendance
                if task is not None and task.done() and not task.cancelled():
                    ident = task.result()
                    if ident is not None:
                        ids.append(ident)
        return ids

    # ------------------------------------------------------------ stats

    def snapshot(self, room: Room) -> dict[str, object]:
        return {
            "node": self.live.node.id,
            "participants": [p.model_dump(mode="json") for p in room.visible()],
            "hands": list(room.hands),
            "stage": room.stage,
        }

    async def _stats_loop(self) -> None:
        interval = self.settings.media.stats_interval_s
        while True:
            await asyncio.sleep(interval)
            for room in list(self._rooms.values()):
                try:
                    await self._collect(room)
                except Exception:
                    logger.exception("stats collection failed", extra={"lesson": room.lesson.id})
                try:
                    await self.live.save_snapshot(room.lesson.id, self.snapshot(room))
                except Exception:
                    logger.warning(
                        "live state: snapshot not saved", extra={"lesson": room.lesson.id}
                    )

    async def _collect(self, room: Room) -> None:
        for member in list(room.members.values()):
            peer = member.peer
            if peer is None:
                continue
            measured = peer.stats()
            reported = member.reported
            loss = (
                max(measured.packet_loss, reported.loss or 0.0)
                if reported
                else measured.packet_loss
            )
            rtt = (
                measured.rtt_ms
                if measured.rtt_ms is not None
                else (reported.rtt_ms if reported else None)
            )
            camera = member.sources.get(Slot.CAMERA)
            fps = camera.fps if camera is not None else (reported.fps if reported else None)
            verdict = link_verdict(fps, loss, rtt, reported, member.audio_only)
            quality = verdict.quality
            member.quality_samples.append(QUALITY_SCORE.get(quality, 0.0))
            if self.metrics is not None:
                self.metrics.observe_member(
                    member, measured.bitrate_in_kbps, measured.bitrate_out_kbps, loss
                )
            member.stats = ParticipantStats(
                participant=member.id,
                bitrate_in_kbps=round(measured.bitrate_in_kbps, 1),
                bitrate_out_kbps=round(measured.bitrate_out_kbps, 1),
                packet_loss=round(loss, 4),
                rtt_ms=round(rtt, 1) if rtt is not None else None,
                fps=round(fps, 1) if fps is not None else None,
                quality=quality,
                devices=reported.devices if reported else None,
                reasons=list(verdict.reasons),
                audio_only=member.audio_only,
                received_fps=reported.fps if reported else None,
                received_kbps=reported.bitrate_kbps if reported else None,
            )
        lecturer = room.lecturer
        if lecturer is not None:
            lecturer.post(StatsSummary(participants=self.stats(room.lesson.id)))
