"""The registers of every lesson in a stretch of the timetable, read in a fixed number of
queries however many lessons it holds (a county term: ~3,000 lessons, ~200 classrooms), for
the per-term attendance reports (``streamhub.lesson.term_report`` adds them up)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from streamhub.catalog.models import (
    Attendance,
    AudioOnlyInterval,
    Classroom,
    Lesson,
    School,
    lesson_invites,
    utcnow,
)
from streamhub.catalog.store import Catalog
from streamhub.lesson.attendance import register
from streamhub.lesson.term_report import ClassroomInfo, HeldLesson, ReportLesson
from streamhub.protocol import Role

# Rows converted, and registers worked out, between two turns of the event loop.
CHUNK_ROWS = 500
LESSONS_PER_TURN = 25
LESSON_COLUMNS = (
    Lesson.id, Lesson.title, Lesson.lecturer_name, Lesson.status,
    Lesson.scheduled_start, Lesson.scheduled_end, Lesson.started_at, Lesson.ended_at,
)  # fmt: skip
# What ``register`` reads of a session (no ORM objects: a term holds tens of thousands).
SESSION_COLUMNS = (
    Attendance.id, Attendance.lesson_id, Attendance.participant_id, Attendance.role,
    Attendance.name, Attendance.classroom_id, Attendance.joined_at, Attendance.left_at,
    Attendance.quality,
)  # fmt: skip


@dataclass(frozen=True)
class TermSources:
    """What a report adds up: the lessons in range that took place, with their registers, the
    ones whose time passed without going live, and every classroom with its school."""

    held: list[HeldLesson]
    not_held: list[tuple[ReportLesson, list[int]]]
    classrooms: dict[int, ClassroomInfo]


async def term_sources(
    catalog: Catalog, start: datetime, stop: datetime, late_after_s: float, left_early_s: float
) -> TermSources:
    """The lessons scheduled to start in [start, stop): ended ones with their registers;
    scheduled ones whose end has passed as not held. Lessons live now are left out until they
    end (their register is not final).

    A term is tens of thousands of rows and a few seconds of work on a busy machine, and the
    hub's event loop must not stall meanwhile (peers' ICE consent checks fail after about a
    second): rows are read, and the registers worked out, a little at a time with turns of
    the loop between, so each turn's work is bounded (a worker thread measured alike here,
    but leaves the loop's turns to the interpreter lock's switching)."""
    in_range = (Lesson.scheduled_start >= start, Lesson.scheduled_start < stop)
    ended = (*in_range, Lesson.status == "ended")
    async with catalog.session() as session:
        lessons = await _rows(
            session,
            select(*LESSON_COLUMNS)
            .where(*in_range)
            .where(Lesson.status.in_(("ended", "scheduled")))
            .order_by(Lesson.scheduled_start, Lesson.id),
        )
        invites = await _rows(
            session,
            select(lesson_invites.c.lesson_id, lesson_invites.c.classroom_id)
            .join(Lesson, Lesson.id == lesson_invites.c.lesson_id)
            .where(*in_range)
            .order_by(lesson_invites.c.lesson_id, lesson_invites.c.classroom_id),
        )
        rooms = await _rows(
            session,
            select(Classroom.id, Classroom.name, Classroom.school_id, School.name).join(
                School, School.id == Classroom.school_id
            ),
        )
        sessions = await _rows(
            session,
            select(*SESSION_COLUMNS)
            .join(Lesson, Lesson.id == Attendance.lesson_id)
            .where(*ended, Attendance.role == Role.CLASSROOM.value),
        )
        spans = await _rows(
            session,
            select(
                AudioOnlyInterval.attendance_id,
                AudioOnlyInterval.started_at,
                AudioOnlyInterval.ended_at,
                Attendance.lesson_id,
            )
            .join(Attendance, Attendance.id == AudioOnlyInterval.attendance_id)
            .join(Lesson, Lesson.id == Attendance.lesson_id)
            .where(*ended, Attendance.role == Role.CLASSROOM.value),
        )
    return await _registers(lessons, invites, rooms, sessions, spans, late_after_s, left_early_s)


async def _rows(session: AsyncSession, query: Any) -> list[Any]:
    """All the rows, fetched and converted a chunk at a time with the event loop free between
    chunks."""
    out: list[Any] = []
    result = await session.stream(query.execution_options(yield_per=CHUNK_ROWS))
    async for chunk in result.partitions():
        out.extend(chunk)
        await asyncio.sleep(0)
    return out


async def _registers(
    lessons: list[Any],
    invites: list[Any],
    rooms: list[Any],
    sessions: list[Any],
    spans: list[Any],
    late_after_s: float,
    left_early_s: float,
) -> TermSources:
    now = utcnow()
    classrooms = {
        cid: ClassroomInfo(cid, name, school_id, school) for cid, name, school_id, school in rooms
    }
    invited: dict[int, list[int]] = defaultdict(list)
    for lesson_id, classroom_id in invites:
        invited[lesson_id].append(classroom_id)
    rows_of: dict[int, list[Any]] = defaultdict(list)
    for row in sessions:
        rows_of[row.lesson_id].append(row)
    spans_of: dict[int, list[Any]] = defaultdict(list)
    for span in spans:
        spans_of[span.lesson_id].append(span)
    held, not_held = [], []
    for number, lesson in enumerate(lessons, 1):
        if number % LESSONS_PER_TURN == 0:
            await asyncio.sleep(0)
        info = ReportLesson(lesson.id, lesson.title, lesson.lecturer_name)
        if lesson.status == "scheduled":
            if lesson.scheduled_end < now:
                not_held.append((info, invited[lesson.id]))
            continue
        names = [(c, classrooms[c].name if c in classrooms else "") for c in invited[lesson.id]]
        lines = register(
            names,
            rows_of[lesson.id],
            lesson.started_at,
            lesson.ended_at,
            now,
            late_after_s,
            left_early_s,
            spans_of[lesson.id],
        )
        held.append(HeldLesson(info, lines))
    return TermSources(held, not_held, classrooms)
