"""The timetable's view of the catalog: classrooms as a timetable names them, lessons as an
import compares with them, and lessons as an export or a calendar shows them. The catalog
fills these (streamhub/catalog/timetable.py); nothing here reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ClassroomRef:
    id: int
    name: str
    school: str


@dataclass(frozen=True)
class SubjectRef:
    """A subject (or a grade) as a timetable names it (compared as ``normalize`` folds
    names)."""

    id: int
    name: str
    retired: bool


@dataclass(frozen=True)
class ExistingLesson:
    id: int
    title: str
    subject: str
    lecturer: str
    start: datetime
    end: datetime
    status: str
    classroom_ids: frozenset[int]
    grade_id: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """The catalog as the plan needs it: every classroom, and the lessons around the file's."""

    classrooms: list[ClassroomRef]
    lessons: list[ExistingLesson]
    subjects: list[SubjectRef] = field(default_factory=list)
    grades: list[SubjectRef] = field(default_factory=list)


@dataclass(frozen=True)
class ScheduledLesson:
    """A lesson as a timetable file or a calendar shows it."""

    id: int
    title: str
    subject: str
    lecturer: str
    start: datetime
    end: datetime
    status: str
    series: str | None
    join_code: str
    classrooms: list[ClassroomRef]
    grade: str = ""
