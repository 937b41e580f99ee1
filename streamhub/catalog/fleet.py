"""The catalog's part of the fleet board: every classroom with what its PC last said of itself
(agent, devices, when it was last heard from), its latest connection check and its next
lesson, read in four queries whatever the number of classrooms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select

from streamhub.catalog.models import (
    Classroom,
    ConnectionCheck,
    DeviceCredential,
    Lesson,
    lesson_invites,
    utcnow,
)
from streamhub.catalog.store import Catalog

# How far ahead the board looks for a classroom's next lesson.
NEXT_LESSON_WITHIN = timedelta(days=31)


@dataclass(frozen=True)
class FleetSources:
    classrooms: list[Classroom]
    # Per classroom: its active credential used last (None: no PC enrolled or all revoked).
    credentials: dict[int, DeviceCredential]
    checks: dict[int, ConnectionCheck]
    next_lessons: dict[int, Lesson]


async def fleet_sources(catalog: Catalog, school_id: int | None = None) -> FleetSources:
    now = utcnow()
    async with catalog.session() as session:
        rooms_query = select(Classroom).order_by(Classroom.school_id, Classroom.name, Classroom.id)
        if school_id is not None:
            rooms_query = rooms_query.where(Classroom.school_id == school_id)
        classrooms = list((await session.scalars(rooms_query)).all())
        ids = [c.id for c in classrooms]

        credentials: dict[int, DeviceCredential] = {}
        active = await session.scalars(
            select(DeviceCredential)
            .where(DeviceCredential.classroom_id.in_(ids), DeviceCredential.revoked_at.is_(None))
            .order_by(DeviceCredential.id)
        )
        for row in active:
            held = credentials.get(row.classroom_id)
            if held is None or _used(row) > _used(held):
                credentials[row.classroom_id] = row

        latest = (
            select(func.max(ConnectionCheck.id))
            .where(ConnectionCheck.classroom_id.in_(ids))
            .group_by(ConnectionCheck.classroom_id)
        )
        checks = {
            row.classroom_id: row
            for row in await session.scalars(
                select(ConnectionCheck).where(ConnectionCheck.id.in_(latest))
            )
        }

        upcoming = await session.execute(
            select(lesson_invites.c.classroom_id, Lesson)
            .join(Lesson, Lesson.id == lesson_invites.c.lesson_id)
            .where(lesson_invites.c.classroom_id.in_(ids))
            .where(
                or_(
                    Lesson.status == "live",
                    and_(
                        Lesson.status == "scheduled",
                        Lesson.scheduled_end >= now,
                        Lesson.scheduled_start <= now + NEXT_LESSON_WITHIN,
                    ),
                )
            )
            .order_by(Lesson.scheduled_start, Lesson.id)
        )
        next_lessons: dict[int, Lesson] = {}
        for classroom_id, lesson in upcoming.all():
            held_lesson = next_lessons.get(classroom_id)
            if held_lesson is None or (lesson.status == "live" and held_lesson.status != "live"):
                next_lessons[classroom_id] = lesson
    return FleetSources(classrooms, credentials, checks, next_lessons)


def _used(row: DeviceCredential) -> datetime:
    return row.last_used_at or row.created_at
