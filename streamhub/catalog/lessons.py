"""Lessons: their schedule, invitations, join codes and status; what the live rooms read of
them (``LessonInfo``)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from streamhub.catalog.base import CatalogBase, Page
from streamhub.catalog.models import Classroom, Lesson, lesson_invites, utcnow
from streamhub.errors import Conflict, ErrorCode, NotFound
from streamhub.lesson.ports import LessonInfo

# No 0/O or 1/I/L: join codes are read aloud and typed by hand in classrooms.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class LessonStore(CatalogBase):
    async def _classrooms(self, session: AsyncSession, ids: Sequence[int]) -> list[Classroom]:
        wanted = set(ids)
        rows = list(
            (await session.scalars(select(Classroom).where(Classroom.id.in_(wanted)))).all()
        )
        missing = wanted - {r.id for r in rows}
        if missing:
            raise NotFound(f"no classroom with id {sorted(missing)[0]}")
        return rows

    async def create_lesson(
        self,
        *,
        title: str,
        subject: str,
        lecturer_name: str,
        scheduled_start: datetime,
        scheduled_end: datetime,
        classroom_ids: Sequence[int],
        open_to_all: bool = False,
        school_id: int | None = None,
        lecturer_account_id: int | None = None,
        subject_id: int | None = None,
        grade_id: int | None = None,
        description: str = "",
    ) -> Lesson:
        for _ in range(8):
            (code,) = _codes(1)
            try:
                async with self.session() as session, session.begin():
                    lesson = Lesson(
                        title=title,
                        subject=subject,
                        lecturer_name=lecturer_name,
                        scheduled_start=scheduled_start,
                        scheduled_end=scheduled_end,
                        status="scheduled",
                        join_code=code,
                        open_to_all=open_to_all,
                        school_id=school_id,
                        lecturer_account_id=lecturer_account_id,
                        subject_id=subject_id,
                        grade_id=grade_id,
                        description=description,
                    )
                    lesson.classrooms = await self._classrooms(session, classroom_ids)
                    session.add(lesson)
                    await session.flush()
                    await self._reindex(session, [lesson.id])
            except IntegrityError:
                continue  # join code collision: draw another
            return lesson
        raise Conflict("could not allocate a join code")

    async def get_lesson(self, lesson_id: int) -> Lesson:
        return await self._get(Lesson, lesson_id)

    async def lesson_by_code(self, code: str) -> Lesson:
        # Only the code alphabet can match (and PostgreSQL refuses text holding a NUL).
        if not (code.isascii() and code.isalnum()):
            raise NotFound("no lesson with this join code")
        async with self.session() as session:
            lesson = await session.scalar(select(Lesson).where(Lesson.join_code == code.upper()))
        if lesson is None:
            raise NotFound("no lesson with this join code")
        return lesson

    async def create_series(
        self,
        *,
        title: str,
        subject: str,
        lecturer_name: str,
        times: Sequence[tuple[datetime, datetime]],
        classroom_ids: Sequence[int],
        open_to_all: bool = False,
        subject_id: int | None = None,
        grade_id: int | None = None,
        description: str = "",
    ) -> tuple[str, list[Lesson]]:
        """One lesson per (start, end), all or none, sharing a new series id."""
        series = secrets.token_hex(8)
        for _ in range(8):
            try:
                async with self.session() as session, session.begin():
                    rooms = await self._classrooms(session, classroom_ids)
                    lessons = [
                        Lesson(
                            title=title,
                            subject=subject,
                            lecturer_name=lecturer_name,
                            scheduled_start=start,
                            scheduled_end=end,
                            status="scheduled",
                            join_code=code,
                            open_to_all=open_to_all,
                            series=series,
                            classrooms=list(rooms),
                            subject_id=subject_id,
                            grade_id=grade_id,
                            description=description,
                        )
                        for (start, end), code in zip(times, _codes(len(times)), strict=True)
                    ]
                    session.add_all(lessons)
                    await session.flush()
                    await self._reindex(session, [x.id for x in lessons])
            except IntegrityError:
                continue  # a join code collided with an existing lesson's: draw them again
            return series, lessons
        raise Conflict("could not allocate join codes")

    async def delete_series(self, series: str) -> int:
        """Delete the series' lessons that are still scheduled (live and ended ones stay, with
        their attendance and recordings); how many."""
        async with self.session() as session, session.begin():
            rows = (
                await session.scalars(
                    select(Lesson).where(Lesson.series == series, Lesson.status == "scheduled")
                )
            ).all()
            for row in rows:
                await session.delete(row)
        return len(rows)

    async def list_lessons(
        self,
        limit: int,
        offset: int,
        status: str | None = None,
        classroom_id: int | None = None,
        series: str | None = None,
        *,
        school_id: int | None = None,
        lecturer_account_id: int | None = None,
    ) -> Page[Lesson]:
        query = select(Lesson).order_by(Lesson.scheduled_start, Lesson.id)
        if school_id is not None:
            query = query.where(Lesson.school_id == school_id)
        if lecturer_account_id is not None:
            query = query.where(Lesson.lecturer_account_id == lecturer_account_id)
        if series is not None:
            query = query.where(Lesson.series == series)
        if status == "missed":
            query = query.where(Lesson.status == "scheduled", Lesson.scheduled_end < utcnow())
        elif status == "scheduled":
            query = query.where(Lesson.status == "scheduled", Lesson.scheduled_end >= utcnow())
        elif status is not None:
            query = query.where(Lesson.status == status)
        if classroom_id is not None:
            query = query.join(lesson_invites).where(lesson_invites.c.classroom_id == classroom_id)
        return await self._page(query, limit, offset)

    async def classroom_timetable(
        self, classroom_id: int, ended_after: datetime, limit: int = 200
    ) -> list[Lesson]:
        """The classroom's live lessons and its scheduled ones ending after ``ended_after``,
        soonest first (filtered in SQL: a classroom's past lessons grow without bound)."""
        query = (
            select(Lesson)
            .join(lesson_invites)
            .where(lesson_invites.c.classroom_id == classroom_id)
            .where(
                or_(
                    Lesson.status == "live",
                    and_(Lesson.status == "scheduled", Lesson.scheduled_end >= ended_after),
                )
            )
            .order_by(Lesson.scheduled_start, Lesson.id)
            .limit(limit)
        )
        async with self.session() as session:
            return list((await session.scalars(query)).unique().all())

    async def update_lesson(self, lesson_id: int, changes: dict[str, Any]) -> Lesson:
        async with self.session() as session, session.begin():
            lesson = await session.get(Lesson, lesson_id)
            if lesson is None:
                raise NotFound(f"no lesson with id {lesson_id}")
            if lesson.status == "ended":
                raise Conflict("an ended lesson cannot be edited", code=ErrorCode.LESSON_ENDED)
            ids = changes.pop("classroom_ids", None)
            if ids is not None:
                lesson.classrooms = await self._classrooms(session, ids)
            for key, value in changes.items():
                setattr(lesson, key, value)
            if lesson.scheduled_end <= lesson.scheduled_start:
                raise Conflict("the lesson must end after it starts", code=ErrorCode.BAD_SCHEDULE)
            await session.flush()
            await self._reindex(session, [lesson_id])
        return lesson

    async def delete_lesson(self, lesson_id: int) -> None:
        lesson = await self.get_lesson(lesson_id)
        if lesson.status == "live":
            raise Conflict("end the lesson before deleting it", code=ErrorCode.LESSON_LIVE)
        await self._delete(Lesson, lesson_id)

    async def set_lesson_status(self, lesson_id: int, status: str) -> Lesson:
        async with self.session() as session, session.begin():
            lesson = await session.get(Lesson, lesson_id)
            if lesson is None:
                raise NotFound(f"no lesson with id {lesson_id}")
            allowed = {"live": {"scheduled", "live"}, "ended": {"live", "scheduled", "ended"}}
            if lesson.status not in allowed[status]:
                raise Conflict(
                    f"a lesson that is {lesson.status} cannot become {status}",
                    code=ErrorCode.LESSON_ENDED if lesson.status == "ended" else ErrorCode.CONFLICT,
                )
            if status == "live" and lesson.started_at is None:
                lesson.started_at = utcnow()
            if status == "ended" and lesson.ended_at is None:
                lesson.ended_at = utcnow()
            lesson.status = status
        return lesson

    @staticmethod
    def info(lesson: Lesson) -> LessonInfo:
        return LessonInfo(
            id=lesson.id,
            title=lesson.title,
            subject=lesson.subject,
            lecturer_name=lesson.lecturer_name,
            join_code=lesson.join_code,
            status=lesson.status,
            invited_classroom_ids=frozenset(c.id for c in lesson.classrooms),
            open_to_all=lesson.open_to_all,
            row_key=lesson.row_key,
        )

    async def lesson_info(self, lesson_id: int) -> LessonInfo | None:
        async with self.session() as session:
            lesson = await session.get(Lesson, lesson_id)
        return None if lesson is None else self.info(lesson)

    async def lesson_statuses(self, lesson_ids: Sequence[int]) -> dict[int, str]:
        """The status of each of these lessons that still exists (one query, for the nodes'
        reconciliation of the rooms they hold)."""
        if not lesson_ids:
            return {}
        async with self.session() as session:
            query = select(Lesson.id, Lesson.status).where(Lesson.id.in_(list(lesson_ids)))
            return {row.id: row.status for row in (await session.execute(query)).all()}

    async def lesson_infos(self, lesson_ids: Sequence[int]) -> dict[int, LessonInfo]:
        """Each of these lessons that still exists (one query and its invitations', for the
        nodes' reconciliation of the rooms they hold)."""
        if not lesson_ids:
            return {}
        async with self.session() as session:
            query = select(Lesson).where(Lesson.id.in_(list(lesson_ids)))
            rows = (await session.scalars(query)).unique().all()
        return {row.id: self.info(row) for row in rows}

    async def live_lessons(self) -> list[LessonInfo]:
        async with self.session() as session:
            query = select(Lesson).where(Lesson.status == "live").order_by(Lesson.id)
            rows = (await session.scalars(query)).all()
        return [self.info(r) for r in rows]


def _codes(count: int) -> list[str]:
    """``count`` distinct join codes."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(CODE_ALPHABET) for _ in range(6)))
    return list(codes)
