"""What the hub tells the feed, and when: hooked on the lesson registry (lesson started and
ended, a classroom dropping out of a live lesson), called by the recorder (recording ready),
and on a timer (replay summary: views and watch time of what was replayed, nobody named).
Each event is kept in the catalog first, then the webhook sender is woken."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal, get_args

from streamhub.catalog.models import utcnow
from streamhub.catalog.register import lesson_register
from streamhub.catalog.store import Catalog
from streamhub.config import Settings
from streamhub.feed.webhooks import WebhookSender
from streamhub.lesson.participant import Participant
from streamhub.lesson.ports import LessonInfo
from streamhub.lesson.presence import LEFT_ON_PURPOSE
from streamhub.lesson.registry import LessonRegistry
from streamhub.lesson.room import Room
from streamhub.protocol import Role

logger = logging.getLogger(__name__)

# Every type the feed sends (webhooks subscribe to some of them, or to all).
EventType = Literal[
    "lesson.started",
    "lesson.ended",
    "attendance.final",
    "recording.ready",
    "classroom.dropped",
    "replay.summary",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


class Feed:
    def __init__(self, settings: Settings, catalog: Catalog, lessons: LessonRegistry) -> None:
        self.settings = settings
        self.catalog = catalog
        self.lessons = lessons
        self.sender = WebhookSender(catalog, settings.webhooks)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._summaries: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.lessons.on_lesson_started.append(self.lesson_started)
        self.lessons.on_lesson_ended.append(self.lesson_ended)
        self.lessons.on_member_left.append(self.member_left)
        self.sender.start()
        every = self.settings.webhooks.replay_summary_every_s
        if every > 0:
            self._summaries = asyncio.get_running_loop().create_task(
                self._summarize_every(every), name="replay.summary"
            )

    async def close(self) -> None:
        self._closed = True
        if self._summaries is not None:
            self._summaries.cancel()
            await asyncio.gather(self._summaries, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sender.close()

    async def publish(
        self, event_type: str, lesson_id: int | None, data: dict[str, Any], once: bool = False
    ) -> None:
        """Keep the event and wake the sender. ``once``: not again for the same lesson (a hub
        that restarts opens its live lessons again; they did not start twice)."""
        if (
            once
            and lesson_id is not None
            and await self.catalog.has_feed_event(event_type, lesson_id)
        ):
            return
        await self.catalog.add_feed_event(event_type, lesson_id, data)
        self.sender.wake()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        if self._closed:  # a member leaving as the hub stops: nothing will send it
            work.close()
            return
        # The coroutine is the task itself: cancelled before it ran, it is closed, not left
        # un-awaited (a wrapper awaiting it would leave it so).
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The catalog may be away: the event is lost, the lesson is not.
            logger.error("feed event %s not kept", task.get_name(), exc_info=task.exception())

    # ------------------------------------------------------------ replay data

    async def _summarize_every(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.replay_summary(skip_within_s=every / 2)
            except Exception:  # the catalog may be away: the next round covers this one's
                logger.exception("replay summary not made")

    async def replay_summary(
        self, until: datetime | None = None, skip_within_s: float = 0.0
    ) -> dict[str, Any] | None:
        """Publish ``replay.summary``: each recording and capsule some replay reported on since
        the last summary, with its views and watch time so far and the replays begun since.
        Anonymous: no viewer in it. None when nothing was replayed (the next summary's window
        then starts where the last one's ended) or another node summarized just now."""
        until = until or utcnow()
        last = await self.catalog.latest_feed_event("replay.summary")
        since: datetime | None = None
        if last is not None:
            if (until - last.created_at).total_seconds() < skip_within_s:
                return None
            try:
                since = datetime.fromisoformat(json.loads(last.data)["until"])
            except (ValueError, KeyError, TypeError):
                since = last.created_at
            if until <= since:
                return None
        recordings, capsules = await self.catalog.watched_between(since, until)
        if not recordings and not capsules:
            return None
        data = {
            "since": since.isoformat() if since is not None else None,
            "until": until.isoformat(),
            "recordings": [w.as_data() for w in recordings],
            "capsules": [w.as_data() for w in capsules],
        }
        await self.publish("replay.summary", None, data)
        return data

    # ------------------------------------------------------------ registry hooks

    async def lesson_started(self, info: LessonInfo) -> None:
        await self.publish("lesson.started", info.id, _lesson(info), once=True)

    async def lesson_ended(self, info: LessonInfo) -> None:
        await self.publish("lesson.ended", info.id, _lesson(info), once=True)
        # Whoever ended it (the API, the lecturer's page) closes the attendance too; closing it
        # here as well makes the register final whatever the order.
        await self.catalog.close_open_attendance(info.id)
        lines = await lesson_register(
            self.catalog,
            info.id,
            self.settings.attendance_late_after_s,
            self.settings.attendance_left_early_s,
        )
        classrooms = [{**_plain(asdict(line.presence)), "school": line.school} for line in lines]
        await self.publish(
            "attendance.final",
            info.id,
            {"lesson": _lesson(info), "classrooms": classrooms},
            once=True,
        )

    def member_left(self, room: Room, member: Participant, reason: str) -> None:
        """A classroom left a lesson that goes on, not on purpose and not replaced by its own
        new connection: its picture is gone from the lecturer's wall."""
        if member.role is not Role.CLASSROOM or member.classroom_id is None:
            return
        if reason in LEFT_ON_PURPOSE or self.lessons.rooms.get(room.lesson.id) is not room:
            return  # left on purpose, or the lesson ended
        if room.by_subject(member.grant.sub) is not None:
            return
        data = {"lesson": _lesson(room.lesson), "classroom_id": member.classroom_id,
                "classroom": member.name, "reason": reason}  # fmt: skip
        self._spawn(self.publish("classroom.dropped", room.lesson.id, data), "classroom.dropped")


def _lesson(info: LessonInfo) -> dict[str, Any]:
    return {"id": info.id, "title": info.title, "subject": info.subject,
            "lecturer": info.lecturer_name, "join_code": info.join_code}  # fmt: skip


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
