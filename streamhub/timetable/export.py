"""Lessons as timetable rows: the format an import reads, one lesson per row, so that importing
an export finds every lesson already there."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from streamhub.timetable.columns import EXPORTED, HEADERS, LIST_SEPARATORS, Column, write_time
from streamhub.timetable.model import ClassroomRef, ScheduledLesson
from streamhub.timetable.plan import ClassroomResolver


def export_rows(
    lessons: Sequence[ScheduledLesson],
    classrooms: Sequence[ClassroomRef],
    zone: ZoneInfo,
    chinese: bool = False,
) -> list[list[str]]:
    """``classrooms``: every classroom, to tell which names an import would find ambiguous."""
    header = [HEADERS[c][1] if chinese else c.value for c in EXPORTED]
    resolver = ClassroomResolver(classrooms)
    rows = [header]
    for lesson in lessons:
        start = lesson.start.astimezone(zone)
        end = lesson.end.astimezone(zone)
        cells = {
            Column.TITLE: lesson.title,
            Column.SUBJECT: lesson.subject,
            Column.GRADE: lesson.grade,
            Column.LECTURER: lesson.lecturer,
            Column.DATE: start.date().isoformat(),
            Column.START: write_time(start.time()),
            Column.END: write_time(end.time()),
            Column.CLASSROOMS: "; ".join(_name(c, resolver) for c in lesson.classrooms),
            Column.SERIES: lesson.series or "",
        }
        rows.append([cells[c] for c in EXPORTED])
    return rows


def _name(room: ClassroomRef, resolver: ClassroomResolver) -> str:
    """School/Classroom, or #id where an import would not read that back as this classroom
    (a name another classroom shares, or one holding a list separator)."""
    plain = f"{room.school}/{room.name}"
    if LIST_SEPARATORS.search(plain) or resolver.resolve(plain) != {room.id}:
        return f"#{room.id}"
    return plain
