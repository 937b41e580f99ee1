"""The live lessons of this hub node: rooms, joins, the periodic stats summary."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from streamhub.auth.tokens import Grant, TokenIssuer
from streamhub.config import Settings
from streamhub.errors import Forbidden, RateLimited, Redirect, StreamhubError, Unauthorized
from streamhub.lesson.overload import OverloadGuard
from streamhub.lesson.participant import Participant
from streamhub.lesson.ports import CatalogPort, LessonInfo
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
    StatsSummary,
)

if TYPE_CHECKING:
    from streamhub.metrics import HubMetrics

logger = logging.getLogger(__name__)

LIVE_ROLES = frozenset({Role.LECTURER, Role.CLASSROOM, Role.RECORDER})
LessonHook = Callable[[LessonInfo], Awaitable[None]]


class JoinRefused(StreamhubError):
    """The join was refused."""

    status = 403


def quality_of(loss: float, rtt_ms: float | None, fps: float | None) -> str:
    if loss > 0.08 or (rtt_ms is not None and rtt_ms > 600):
        return "poor"
    if loss > 0.02 or (rtt_ms is not None and rtt_ms > 250) or (fps is not None and fps < 15):
        return "fair"
    return "good"


RECORDER_GRACE_S = 1.0
QUALITY_SCORE = {"good": 1.0, "fair": 0.6, "poor": 0.2}


class LessonRegistry:
    def __init__(
        self,
        settings: Settings,
        catalog: CatalogPort,
        tokens: TokenIssuer,
        metrics: HubMetrics | None = None,
        live: LiveState | None = None,
    ) -> None:
        self.settings = settings
        self.live: LiveState = live or MemoryLiveState(
            NodeInfo(settings.effective_node_id, settings.effective_node_url)
        )
        self.metrics = metrics
        self.catalog = catalog
        self.tokens = tokens
        self.rooms: dict[int, Room] = {}
        self.on_lesson_started: list[LessonHook] = []
        self.on_lesson_ended: list[LessonHook] = []
        self._joins: dict[str, deque[float]] = defaultdict(deque)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stats_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.join_latencies: deque[float] = deque(maxlen=1000)
        self.overload = OverloadGuard(settings.capacity, lambda: tuple(self.rooms.values()))

    async def start(self) -> None:
        # Imported here so that room logic stays free of aiortc; the hub process needs the tap.
        from streamhub.media import aiortc_hooks

        aiortc_hooks.install(self.settings.ice.host_addresses)
        self._stats_task = asyncio.get_running_loop().create_task(self._stats_loop(), name="stats")
        self.overload.start()
        await self.live.start(self._on_live_event, self.load, lambda: tuple(self.rooms))

    async def close(self) -> None:
        await self.overload.close()
        if self._stats_task is not None:
            self._stats_task.cancel()
            await asyncio.gather(self._stats_task, return_exceptions=True)
        for room in list(self.rooms.values()):
            for member in list(room.members.values()):
                member.close("shutdown", "the hub is shutting down")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.rooms.clear()
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

    # ------------------------------------------------------------ lesson lifecycle

    async def start_lesson(self, info: LessonInfo) -> Room:
        async with self._lock:
            room = self.rooms.get(info.id)
            if room is None:
                room = Room(info)
                self.rooms[info.id] = room
                logger.info("lesson live", extra={"lesson": info.id})
                for hook in self.on_lesson_started:
                    self.spawn(hook(info), f"lesson-started:{info.id}")
            return room

    async def end_lesson(self, lesson_id: int) -> None:
        async with self._lock:
            room = self.rooms.pop(lesson_id, None)
        if room is None:
            return
        room.broadcast(LessonEnded())
        hidden = [m for m in room.members.values() if m.hidden]
        for member in list(room.members.values()):
            if not member.hidden:
                member.close("lesson_ended", "the lesson has ended")
        if hidden:
            # The recorder stays a moment longer: the last frames are still on their way.
            self.spawn(self._close_later(hidden, RECORDER_GRACE_S), f"lesson-end:{lesson_id}")
        logger.info("lesson ended", extra={"lesson": lesson_id})
        try:
            await self.live.release(lesson_id)
        except Exception:  # the shared store may be down; its keys expire by themselves
            logger.warning("live state: release failed", extra={"lesson": lesson_id})
        for hook in self.on_lesson_ended:
            self.spawn(hook(room.lesson), f"lesson-ended:{lesson_id}")

    def load(self) -> int:
        """This node's load, for choosing where new lessons go."""
        members = sum(len(room.members) for room in self.rooms.values())
        return members + LESSON_LOAD * len(self.rooms)

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
        await self.live.publish(LiveEvent("end_lesson", lesson_id))

    async def revoke_everywhere(self, credential_id: int) -> None:
        await self.revoke_credential(credential_id)
        await self.live.publish(LiveEvent("revoke_credential", credential_id))

    async def _on_live_event(self, event: LiveEvent) -> None:
        if event.kind == "end_lesson":
            await self.end_lesson(event.ident)
        elif event.kind == "revoke_credential":
            await self.revoke_credential(event.ident)
        elif event.kind == "start_lesson":
            owner = await self.live.claim(event.ident)
            info = await self.catalog.lesson_info(event.ident)
            if owner.id == self.live.node.id and info is not None and info.status == "live":
                await self.start_lesson(info)

    @staticmethod
    async def _close_later(members: list[Participant], delay: float) -> None:
        await asyncio.sleep(delay)
        for member in members:
            member.close("lesson_ended", "the lesson has ended")

    def participants(self, lesson_id: int) -> list[ParticipantInfo]:
        room = self.rooms.get(lesson_id)
        return room.visible() if room is not None else []

    def stats(self, lesson_id: int) -> list[ParticipantStats]:
        room = self.rooms.get(lesson_id)
        if room is None:
            return []
        return [p.stats for p in room.members.values() if p.stats is not None and not p.hidden]

    async def revoke_credential(self, credential_id: int) -> None:
        for room in list(self.rooms.values()):
            for member in list(room.members.values()):
                if member.grant.credential_id == credential_id:
                    member.close("revoked", "the device credential was revoked")

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
        if grant.credential_id is not None and not await self.catalog.credential_active(
            grant.credential_id
        ):
            raise Unauthorized("the device credential was revoked", code="credential_revoked")
        room = self.rooms.get(grant.lesson)
        if room is None:
            # After a hub restart the catalog still says which lessons are live.
            info = await self.catalog.lesson_info(grant.lesson)
            if info is None or info.status != "live":
                raise JoinRefused("the lesson is not live", code=ErrorCode.LESSON_NOT_LIVE)
            owner = await self.live.claim(grant.lesson)
            if owner.id != self.live.node.id:
                raise Redirect(owner.url)
            room = await self.start_lesson(info)
        if (
            grant.role is Role.CLASSROOM
            and room.lesson.invited_classroom_ids
            and grant.classroom_id not in room.lesson.invited_classroom_ids
        ):
            raise Forbidden("this classroom is not invited to the lesson", code="not_invited")
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
        here = sum(len(r.classrooms()) for r in self.rooms.values())
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
        previous = room.by_subject(participant.grant.sub)
        if previous is not None:
            # A classroom that rejoins after a drop replaces its stale session.
            room.remove(previous, reason="replaced")
            previous.close("replaced", "replaced by a new connection of the same participant")
        if participant.role is Role.LECTURER:
            old = room.lecturer
            if old is not None:
                room.remove(old, reason="replaced")
                old.close("replaced", "replaced by a new lecturer connection")
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
            )
        except Exception:
            logger.exception("attendance not recorded", extra={"lesson": room.lesson.id})
            return None

    async def leave(self, room: Room, participant: Participant, reason: str) -> None:
        room.remove(participant, reason)
        if self.metrics is not None:
            self.metrics.member_left(participant)
        attendance_id = await participant.attendance if participant.attendance else None
        if attendance_id is not None:
            samples = participant.quality_samples
            quality = sum(samples) / len(samples) if samples else None
            try:
                await self.catalog.attendance_left(attendance_id, quality)
            except Exception:
                logger.exception("attendance leave not recorded", extra={"lesson": room.lesson.id})

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
            for room in list(self.rooms.values()):
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
            measured = await peer.stats()
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
            quality = quality_of(loss, rtt, fps)
            member.quality_samples.append(QUALITY_SCORE[quality])
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
                quality=quality,  # type: ignore[arg-type]
            )
        lecturer = room.lecturer
        if lecturer is not None:
            lecturer.post(StatsSummary(participants=self.stats(room.lesson.id)))
