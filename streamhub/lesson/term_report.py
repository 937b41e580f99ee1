"""Attendance over a term, per classroom, per school or per lecturer: the registers of the
lessons that took place (``streamhub.lesson.attendance.register``) added up, with the lessons
whose time passed without going live counted apart."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from streamhub.lesson.attendance import AttendanceStatus, ClassroomPresence

GroupBy = Literal["classroom", "school", "lecturer"]
GROUP_BY: tuple[GroupBy, ...] = ("classroom", "school", "lecturer")
# A register line's network quality (0..1) in words: the library page's bands.
GOOD_FROM, FAIR_FROM = 0.8, 0.5


@dataclass(frozen=True)
class ReportLesson:
    id: int
    title: str
    lecturer_name: str


@dataclass(frozen=True)
class ClassroomInfo:
    id: int
    name: str
    school_id: int
    school: str


@dataclass(frozen=True)
class HeldLesson:
    """A lesson that went live and ended, and its register."""

    lesson: ReportLesson
    lines: list[ClassroomPresence]


@dataclass
class GroupReport:
    """One classroom's, school's or lecturer's term. ``lessons_invited`` counts invitations
    (a lesson that invited three of a school's classrooms is three for the school);
    ``attendance_rate`` is attended over invited; ``open_attended`` counts classrooms that came
    to open lessons uninvited. Minutes, drops and quality cover every line."""

    key: str
    name: str
    school: str = ""
    lessons_held: int = 0
    lessons_invited: int = 0
    lessons_attended: int = 0
    attendance_rate: float | None = None
    late: int = 0
    left_early: int = 0
    absent: int = 0
    open_attended: int = 0
    minutes_present: float = 0.0
    audio_only_minutes: float = 0.0
    drops: int = 0
    # Mean network quality (0..1) weighted by minutes present, and lines by its band.
    quality: float | None = None
    quality_good: int = 0
    quality_fair: int = 0
    quality_poor: int = 0
    lessons_not_held: int = 0
    _lessons: set[int] = field(default_factory=set, repr=False)
    _weighted: list[tuple[float, float]] = field(default_factory=list, repr=False)

    def add(self, lesson: ReportLesson, line: ClassroomPresence) -> None:
        self._lessons.add(lesson.id)
        attended = line.status is not AttendanceStatus.ABSENT
        if line.invited:
            self.lessons_invited += 1
            self.lessons_attended += attended
            self.absent += not attended
        else:
            self.open_attended += attended
        self.late += line.late
        self.left_early += line.left_early
        self.minutes_present += line.minutes_present
        self.audio_only_minutes += line.audio_only_minutes
        self.drops += line.drops
        if line.quality is not None:
            self._weighted.append((line.quality, max(line.minutes_present, 1e-3)))
            if line.quality >= GOOD_FROM:
                self.quality_good += 1
            elif line.quality >= FAIR_FROM:
                self.quality_fair += 1
            else:
                self.quality_poor += 1

    def finish(self) -> GroupReport:
        self.lessons_held = len(self._lessons)
        if self.lessons_invited:
            self.attendance_rate = round(self.lessons_attended / self.lessons_invited, 4)
        total = sum(w for _, w in self._weighted)
        if total:
            self.quality = round(sum(q * w for q, w in self._weighted) / total, 3)
        self.minutes_present = round(self.minutes_present, 2)
        self.audio_only_minutes = round(self.audio_only_minutes, 2)
        return self


def term_report(
    held: Iterable[HeldLesson],
    not_held: Iterable[tuple[ReportLesson, list[int]]],
    classrooms: dict[int, ClassroomInfo],
    by: GroupBy,
) -> tuple[list[GroupReport], GroupReport]:
    """The groups in order (classrooms by school and name, schools and lecturers by name), and
    the totals over all of them."""
    groups: dict[str, GroupReport] = {}
    total = GroupReport("", "")
    group_of = _grouping(by, classrooms)

    def group(lesson: ReportLesson, classroom_id: int) -> GroupReport:
        key, name, school = group_of(lesson, classroom_id)
        found = groups.get(key)
        if found is None:
            found = groups[key] = GroupReport(key, name, school)
        return found

    for item in held:
        for line in item.lines:
            group(item.lesson, line.classroom_id).add(item.lesson, line)
            total.add(item.lesson, line)
    for lesson, invited in not_held:
        for classroom_id in invited:
            group(lesson, classroom_id).lessons_not_held += 1
            total.lessons_not_held += 1
    ordered = sorted((g.finish() for g in groups.values()), key=lambda g: (g.school, g.name, g.key))
    return ordered, total.finish()


def _grouping(
    by: GroupBy, classrooms: dict[int, ClassroomInfo]
) -> Callable[[ReportLesson, int], tuple[str, str, str]]:
    """(key, name, school) of the group a classroom's line in a lesson belongs to. A classroom
    deleted since is its own group under its id, with no school."""

    def by_classroom(_lesson: ReportLesson, classroom_id: int) -> tuple[str, str, str]:
        room = classrooms.get(classroom_id)
        if room is None:
            return str(classroom_id), "", ""
        return str(room.id), room.name, room.school

    def by_school(_lesson: ReportLesson, classroom_id: int) -> tuple[str, str, str]:
        room = classrooms.get(classroom_id)
        if room is None:
            return "", "", ""
        return str(room.school_id), room.school, ""

    def by_lecturer(lesson: ReportLesson, _classroom_id: int) -> tuple[str, str, str]:
        return lesson.lecturer_name, lesson.lecturer_name, ""

    return {"classroom": by_classroom, "school": by_school, "lecturer": by_lecturer}[by]
