"""The timetable's import and export: the catalog as an import plans against it, the plan written
all or nothing, and the lessons of a period with their classrooms for an export or a feed."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import and_, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from streamhub.catalog.base import CatalogBase
from streamhub.catalog.lessons import _codes
from streamhub.catalog.models import (
    Classroom,
    Grade,
    Lesson,
    School,
    Subject,
    lesson_invites,
    new_key,
    utcnow,
)
from streamhub.errors import Conflict
from streamhub.timetable.model import (
    ClassroomRef,
    ExistingLesson,
    ScheduledLesson,
    Snapshot,
    SubjectRef,
)
from streamhub.timetable.plan import Plan

# Lessons written per statement.
WRITE_BATCH = 500
# Any constant: the PostgreSQL advisory lock timetable imports queue on.
_IMPORT_LOCK = 0x54494D45


class TimetableStore(CatalogBase):
    async def import_timetable(
        self,
        window: tuple[datetime, datetime] | None,
        planner: Callable[[Snapshot], Plan],
        write: bool,
    ) -> Plan:
        """Plan against the catalog and, when ``write`` and the plan has no errors, carry it
        out, in one transaction: all of it or nothing. ``window``: the file's first start and
        last end (the lessons it can meet)."""
        for _ in range(8):
            try:
                async with self.session() as session, session.begin():
                    if write and self.engine.dialect.name == "postgresql":
                        # Two imports at once would both find a lesson missing and make it
                        # twice: one at a time (SQLite writes one at a time anyway).
                        await session.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK}
                        )
                    snapshot = await self._snapshot(session, window)
                    # Comparing thousands of lessons is CPU: off the loop that carries media.
                    plan = await asyncio.to_thread(planner, snapshot)
                    if write and not plan.errors:
                        await self._write(session, plan)
            except IntegrityError:
                continue  # a join code collided with an existing lesson's: draw them again
            return plan
        raise Conflict("could not allocate join codes")

    async def _snapshot(
        self, session: AsyncSession, window: tuple[datetime, datetime] | None
    ) -> Snapshot:
        rooms = await self._classroom_refs(session)
        subjects, grades = [
            [
                SubjectRef(r.id, r.name, r.retired_at is not None)
                for r in await session.execute(select(model.id, model.name, model.retired_at))
            ]
            for model in (Subject, Grade)
        ]
        if window is None:
            return Snapshot(rooms, [], subjects, grades)
        found = (
            await session.execute(
                select(
                    Lesson.id,
                    Lesson.title,
                    Lesson.subject,
                    Lesson.lecturer_name,
                    Lesson.scheduled_start,
                    Lesson.scheduled_end,
                    Lesson.status,
                    Lesson.grade_id,
                ).where(Lesson.scheduled_start < window[1], Lesson.scheduled_end > window[0])
            )
        ).all()
        invited = await self._invites(session, [r.id for r in found])
        lessons = [
            ExistingLesson(
                id=r.id,
                title=r.title,
                subject=r.subject,
                lecturer=r.lecturer_name,
                start=r.scheduled_start,
                end=r.scheduled_end,
                status=r.status,
                classroom_ids=frozenset(invited.get(r.id, ())),
                grade_id=r.grade_id,
            )
            for r in found
        ]
        return Snapshot(rooms, lessons, subjects, grades)

    @staticmethod
    async def _invites(session: AsyncSession, lesson_ids: Sequence[int]) -> dict[int, list[int]]:
        invited: dict[int, list[int]] = defaultdict(list)
        # In chunks: databases cap the parameters of one statement.
        for i in range(0, len(lesson_ids), 1000):
            chunk = list(lesson_ids[i : i + 1000])
            query = select(lesson_invites).where(lesson_invites.c.lesson_id.in_(chunk))
            for lesson_id, classroom_id in await session.execute(query):
                invited[lesson_id].append(classroom_id)
        return invited

    async def _write(self, session: AsyncSession, plan: Plan) -> None:
        """Core bulk inserts, not ORM objects: thousands of lessons would otherwise hold the
        event loop (and every live lesson's media) for seconds."""
        now = utcnow()
        for at in range(0, len(plan.create), WRITE_BATCH):
            batch = plan.create[at : at + WRITE_BATCH]
            rows = [
                {
                    "title": new.title,
                    "subject": new.subject,
                    "subject_id": new.subject_id,
                    "grade_id": new.grade_id,
                    "description": "",
                    "lecturer_name": new.lecturer,
                    "scheduled_start": new.start,
                    "scheduled_end": new.end,
                    "status": "scheduled",
                    "join_code": code,
                    "open_to_all": False,
                    "series": new.series,
                    "created_at": now,
                    "row_key": new_key(),
                }
                for new, code in zip(batch, _codes(len(batch)), strict=True)
            ]
            ids = (
                await session.scalars(
                    insert(Lesson).returning(Lesson.id, sort_by_parameter_order=True), rows
                )
            ).all()
            invites = [
                {"lesson_id": lesson_id, "classroom_id": room}
                for lesson_id, new in zip(ids, batch, strict=True)
                for room in sorted(new.classroom_ids)
            ]
            await session.execute(insert(lesson_invites), invites)
            await self._reindex(session, ids)
        for change in plan.update:
            # Only while still scheduled: a lesson that went live meanwhile is left alone.
            await session.execute(
                update(Lesson)
                .where(and_(Lesson.id == change.lesson_id, Lesson.status == "scheduled"))
                .values(**change.changes)
            )

    async def scheduled_lessons(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        classroom_id: int | None = None,
        lecturer: str | None = None,
        limit: int | None = None,
    ) -> list[ScheduledLesson]:
        """Lessons starting in [start, end), soonest first, with their classrooms: all, one
        classroom's, or one lecturer's. Plain rows, no ORM objects: an export of a county's
        term is thousands of lessons."""
        query = select(
            Lesson.id,
            Lesson.title,
            Lesson.subject,
            Lesson.lecturer_name,
            Lesson.scheduled_start,
            Lesson.scheduled_end,
            Lesson.status,
            Lesson.series,
            Lesson.join_code,
            Lesson.grade_id,
        ).order_by(Lesson.scheduled_start, Lesson.id)
        if start is not None:
            query = query.where(Lesson.scheduled_start >= start)
        if end is not None:
            query = query.where(Lesson.scheduled_start < end)
        if classroom_id is not None:
            query = query.join(lesson_invites).where(lesson_invites.c.classroom_id == classroom_id)
        if lecturer is not None:
            query = query.where(Lesson.lecturer_name == lecturer)
        if limit is not None:
            query = query.limit(limit)
        async with self.session() as session:
            found = (await session.execute(query)).all()
            invited = await self._invites(session, [r.id for r in found])
            rooms = {r.id: r for r in await self._classroom_refs(session)}
            grades = dict((await session.execute(select(Grade.id, Grade.name))).all())
        return [
            ScheduledLesson(
                id=r.id,
                title=r.title,
                subject=r.subject,
                lecturer=r.lecturer_name,
                start=r.scheduled_start,
                end=r.scheduled_end,
                status=r.status,
                series=r.series,
                join_code=r.join_code,
                classrooms=[rooms[i] for i in sorted(invited.get(r.id, ())) if i in rooms],
                grade=grades.get(r.grade_id, "") if r.grade_id is not None else "",
            )
            for r in found
        ]

    async def classroom_refs(self) -> list[ClassroomRef]:
        """Every classroom with its school's name (how a timetable names it)."""
        async with self.session() as session:
            return await self._classroom_refs(session)

    @staticmethod
    async def _classroom_refs(session: AsyncSession) -> list[ClassroomRef]:
        query = select(Classroom.id, Classroom.name, School.name.label("school")).join(School)
        return [ClassroomRef(r.id, r.name, r.school) for r in await session.execute(query)]
