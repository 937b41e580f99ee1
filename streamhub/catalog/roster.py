"""The catalog's part of a lesson's roster and of its ended view: the invited classrooms, when
each classroom's PC was last heard from, its stays in the lesson; the lecturer's next lesson
and the lesson's recordings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from streamhub.catalog.models import Attendance, DeviceCredential, Lesson, Recording
from streamhub.catalog.store import Catalog
from streamhub.lesson.roster import Invited, Stay
from streamhub.protocol import Role


@dataclass(frozen=True)
class RosterSources:
    lesson: Lesson
    invited: list[Invited]
    last_seen: dict[int, datetime]
    stays: list[Stay]


async def roster_sources(catalog: Catalog, lesson_id: int) -> RosterSources:
    """One short read: the lesson and its classrooms (in timetable order: as they were added to
    the hub), their credentials' last use, and the classrooms' attendance in this lesson."""
    lesson = await catalog.get_lesson(lesson_id)
    rooms = sorted(lesson.classrooms, key=lambda c: c.id)
    invited = [Invited(c.id, c.name, c.school.name if c.school else "") for c in rooms]
    async with catalog.session() as session:
        seen_rows = await session.execute(
            select(DeviceCredential.classroom_id, func.max(DeviceCredential.last_used_at))
            .where(DeviceCredential.revoked_at.is_(None))
            .where(DeviceCredential.classroom_id.in_([c.id for c in rooms]))
            .group_by(DeviceCredential.classroom_id)
        )
        stay_rows = await session.scalars(
            select(Attendance)
            .where(Attendance.lesson_id == lesson_id)
            .where(Attendance.role == Role.CLASSROOM.value)
            .where(Attendance.classroom_id.is_not(None))
            # In the order they began: of two stays that began together the later row is the
            # last (PostgreSQL hands rows back in no particular order, updated ones moved).
            .order_by(Attendance.joined_at, Attendance.id)
        )
        stays = [
            Stay(row.classroom_id, row.joined_at, row.left_at, row.last_seen_at)
            for row in stay_rows
            if row.classroom_id is not None
        ]
    last_seen = {cid: at for cid, at in seen_rows.all() if at is not None}
    return RosterSources(lesson, invited, last_seen, stays)


async def next_lesson_of(catalog: Catalog, lesson: Lesson) -> Lesson | None:
    """The same lecturer's next scheduled lesson after this one, if the timetable names her."""
    if not lesson.lecturer_name:
        return None
    async with catalog.session() as session:
        return await session.scalar(
            select(Lesson)
            .where(Lesson.lecturer_name == lesson.lecturer_name)
            .where(Lesson.status == "scheduled")
            .where(Lesson.id != lesson.id)
            .where(Lesson.scheduled_start >= lesson.scheduled_start)
            .order_by(Lesson.scheduled_start, Lesson.id)
            .limit(1)
        )


async def recordings_of(catalog: Catalog, lesson_id: int) -> list[Recording]:
    async with catalog.session() as session:
        rows = await session.scalars(
            select(Recording).where(Recording.lesson_id == lesson_id).order_by(Recording.id)
        )
        return list(rows.unique().all())
