"""What importing a timetable would do, against the catalog as it is: the classrooms each row
names, rows that repeat each other or clash (a classroom or a lecturer in two lessons at once),
and for each lesson whether it is new, changed or already there.

A row's lesson is the same lesson as one in the catalog when the **title, the start time and
the set of classrooms** are the same (the natural key): importing a file twice, or importing an
export, finds every lesson already there and changes nothing. A lesson found that is still
scheduled takes the row's end, subject and lecturer; one that went live or ended is kept as it
is."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamhub.timetable.columns import Column, Problem, normalize
from streamhub.timetable.model import ClassroomRef, ExistingLesson, Snapshot, SubjectRef
from streamhub.timetable.rows import ReadRows, RowError, TimetableRow

Key = tuple[str, datetime, frozenset[int]]
_COLUMN_ORDER = {c.value: i for i, c in enumerate(Column)}


@dataclass(frozen=True)
class NewLesson:
    row: int
    title: str
    subject: str
    lecturer: str
    start: datetime
    end: datetime
    classroom_ids: frozenset[int]
    series: str | None
    subject_id: int | None = None
    grade_id: int | None = None


@dataclass(frozen=True)
class LessonChange:
    lesson_id: int
    row: int
    changes: dict[str, Any]


@dataclass
class Plan:
    rows: int = 0
    create: list[NewLesson] = field(default_factory=list)
    update: list[LessonChange] = field(default_factory=list)
    unchanged: int = 0
    kept: int = 0  # already live or ended: an import never changes those
    errors: list[RowError] = field(default_factory=list)


class ClassroomResolver:
    """A classroom as a timetable names it: ``School/Classroom``, the classroom's name alone
    when no other classroom has it, or ``#id``. Names compare without case, spacing or
    full-width differences."""

    def __init__(self, classrooms: Iterable[ClassroomRef]) -> None:
        self.ids = set()
        self.by_name: dict[str, set[int]] = defaultdict(set)
        for room in classrooms:
            self.ids.add(room.id)
            self.by_name[normalize(f"{room.school}/{room.name}")].add(room.id)
            self.by_name[normalize(room.name)].add(room.id)

    def resolve(self, reference: str) -> set[int]:
        """The classrooms ``reference`` may mean: none, one, or several (ambiguous)."""
        text = reference.strip()
        if text.startswith("#") and text[1:].isdigit():
            ident = int(text[1:])
            return {ident} if ident in self.ids else set()
        key = normalize(text)
        # "School / Classroom" and "School／Classroom" as "School/Classroom".
        key = "/".join(part.strip() for part in key.split("/"))
        return set(self.by_name.get(key, ()))


def make_plan(read: ReadRows, snapshot: Snapshot) -> Plan:
    plan = Plan(rows=read.total, errors=list(read.errors))
    resolver = ClassroomResolver(snapshot.classrooms)
    subjects = {normalize(s.name): s for s in snapshot.subjects}
    grades = {normalize(g.name): g for g in snapshot.grades}
    existing: dict[Key, ExistingLesson] = {
        (x.title, x.start, x.classroom_ids): x for x in snapshot.lessons
    }
    seen: dict[Key, int] = {}
    matched: set[int] = set()
    # Every lesson the import leaves in place of the file's rows: (row or None, lesson or None,
    # start, end, classrooms, lecturer, whether this import makes or changes it).
    placed: list[_Placed] = []
    for unread in read.unread:
        _classrooms(unread, resolver, plan.errors)
        _pick(unread, Column.SUBJECT, subjects, plan.errors)
        _pick(unread, Column.GRADE, grades, plan.errors)
    for row in read.rows:
        ids = _classrooms(row, resolver, plan.errors)
        subject = _pick(row, Column.SUBJECT, subjects, plan.errors)
        grade = _pick(row, Column.GRADE, grades, plan.errors)
        if ids is None or subject is False or grade is False:
            continue
        if isinstance(subject, SubjectRef):
            row.subject = subject.name  # the catalog's spelling of it
        keys = [(row.title, o.start, ids) for o in row.occurrences]
        twin = next((seen[k] for k in keys if k in seen), None)
        if twin is not None:
            plan.errors.append(
                _error(row, Column.TITLE, Problem.DUPLICATE,
                       f"the same lesson as row {twin} (same title, start and classrooms)",
                       other_row=twin)
            )  # fmt: skip
            continue
        for key, occurrence in zip(keys, row.occurrences, strict=True):
            seen[key] = row.number
            found = existing.get(key)
            if found is None:
                lesson = NewLesson(
                    row=row.number,
                    title=row.title,
                    subject=row.subject or "",
                    lecturer=row.lecturer or "",
                    start=occurrence.start,
                    end=occurrence.end,
                    classroom_ids=ids,
                    series=row.series,
                    subject_id=subject.id if isinstance(subject, SubjectRef) else None,
                    grade_id=grade.id if isinstance(grade, SubjectRef) else None,
                )
                plan.create.append(lesson)
                placed.append(_Placed(row.number, None, lesson.start, lesson.end, ids,
                                      lesson.lecturer, True))  # fmt: skip
                continue
            matched.add(found.id)
            changes = _changes(row, found, occurrence.end)
            if "subject" in changes:
                changes["subject_id"] = subject.id if isinstance(subject, SubjectRef) else None
            grade_id = grade.id if isinstance(grade, SubjectRef) else None
            if row.grade is not None and grade_id != found.grade_id:
                changes["grade_id"] = grade_id
            lecturer = found.lecturer if row.lecturer is None else row.lecturer
            if found.status != "scheduled":
                plan.kept += 1
            elif changes:
                plan.update.append(LessonChange(found.id, row.number, changes))
            else:
                plan.unchanged += 1
            fresh = bool(changes) and found.status == "scheduled"
            end = occurrence.end if fresh else found.end
            placed.append(_Placed(row.number, found.id, found.start, end, ids, lecturer, fresh))
    others = [
        _Placed(None, x.id, x.start, x.end, x.classroom_ids, x.lecturer, False)
        for x in snapshot.lessons
        if x.id not in matched
    ]
    rooms = {r.id: r for r in snapshot.classrooms}
    _clashes(placed + others, plan.errors, rooms)
    plan.errors.sort(key=lambda e: (e.row, _COLUMN_ORDER.get(e.column, -1), e.cell))
    return plan


def _classrooms(
    row: TimetableRow, resolver: ClassroomResolver, errors: list[RowError]
) -> frozenset[int] | None:
    ids: set[int] = set()
    ok = True
    for reference in row.classrooms:
        found = resolver.resolve(reference)
        if len(found) == 1:
            ids |= found
            continue
        ok = False
        if found:
            errors.append(
                _error(row, Column.CLASSROOMS, Problem.AMBIGUOUS_CLASSROOM,
                       f"{reference!r} names {len(found)} classrooms: write School/Classroom",
                       value=reference)
            )  # fmt: skip
        else:
            errors.append(
                _error(row, Column.CLASSROOMS, Problem.UNKNOWN_CLASSROOM,
                       f"no classroom {reference!r}", value=reference)
            )  # fmt: skip
    return frozenset(ids) if ok else None


def _pick(
    row: TimetableRow,
    column: Column,
    refs: dict[str, SubjectRef],
    errors: list[RowError],
) -> SubjectRef | bool:
    """The row's subject or grade: one of the county's (not retired), none (True: an empty or
    missing cell), or False with the error noted."""
    text = row.subject if column is Column.SUBJECT else row.grade
    if not text:
        return True
    found = refs.get(normalize(text))
    what = "subject" if column is Column.SUBJECT else "grade"
    if found is None:
        code = Problem.UNKNOWN_SUBJECT if column is Column.SUBJECT else Problem.UNKNOWN_GRADE
        errors.append(
            _error(row, column, code,
                   f"no {what} {text!r}: the county admin adds it (Subjects and grades)")
        )  # fmt: skip
        return False
    if found.retired:
        code = Problem.RETIRED_SUBJECT if column is Column.SUBJECT else Problem.RETIRED_GRADE
        errors.append(_error(row, column, code, f"the {what} {found.name!r} is retired"))
        return False
    return found


def _changes(row: TimetableRow, found: ExistingLesson, end: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if found.end != end:
        changes["scheduled_end"] = end
    if row.subject is not None and row.subject != found.subject:
        changes["subject"] = row.subject
    if row.lecturer is not None and row.lecturer != found.lecturer:
        changes["lecturer_name"] = row.lecturer
    return changes


@dataclass(frozen=True)
class _Placed:
    row: int | None
    lesson: int | None
    start: datetime
    end: datetime
    classrooms: frozenset[int]
    lecturer: str
    fresh: bool  # made or changed by this import


def _clashes(placed: list[_Placed], errors: list[RowError], rooms: dict[int, ClassroomRef]) -> None:
    """A classroom, or a lecturer, in two lessons at once. Reported on the later row, once per
    row and other party; clashes this import does not cause (between lessons it leaves as they
    are) are not its business."""
    by_room: dict[Hashable, list[_Placed]] = defaultdict(list)
    by_lecturer: dict[Hashable, list[_Placed]] = defaultdict(list)
    for item in placed:
        for room in item.classrooms:
            by_room[room].append(item)
        if item.lecturer.strip():
            by_lecturer[normalize(item.lecturer)].append(item)
    reported: set[tuple[int, str, int | None, int | None]] = set()
    for column, groups in ((Column.CLASSROOMS, by_room), (Column.LECTURER, by_lecturer)):
        for owner, items in groups.items():
            items.sort(key=lambda x: (x.start, x.end))
            latest: _Placed | None = None
            for item in items:
                if latest is not None and item.start < latest.end:
                    _report(column, owner, latest, item, errors, reported, rooms)
                if latest is None or item.end > latest.end:
                    latest = item


def _report(
    column: Column,
    owner: Hashable,
    first: _Placed,
    second: _Placed,
    errors: list[RowError],
    reported: set[tuple[int, str, int | None, int | None]],
    rooms: dict[int, ClassroomRef],
) -> None:
    if not (first.fresh or second.fresh) or (first.row is None and second.row is None):
        return
    if first.row is not None and second.row is not None and first.row == second.row:
        return  # a row's own occurrences never overlap
    # The later row carries the error; the other party is the earlier row or a lesson.
    rows = [x for x in (first, second) if x.row is not None]
    mine = max(rows, key=lambda x: x.row or 0)
    other = second if mine is first else first
    assert mine.row is not None
    key = (mine.row, column.value, other.row, other.lesson if other.row is None else None)
    if key in reported:
        return
    reported.add(key)
    if column is Column.CLASSROOMS and isinstance(owner, int) and owner in rooms:
        who = f"classroom {rooms[owner].school}/{rooms[owner].name}"
    else:
        who = f"lecturer {mine.lecturer}"
    where = f"row {other.row}" if other.row is not None else f"lesson {other.lesson}"
    local = mine.start.isoformat(timespec="minutes")
    errors.append(
        RowError(
            row=mine.row,
            column=column,
            code=Problem.OVERLAP,
            message=f"{who} has {where} at the same time ({local} UTC)",
            other_row=other.row,
            other_lesson=other.lesson if other.row is None else None,
        )
    )


def _error(row: TimetableRow, column: Column, code: Problem, message: str, value: str | None = None,
           other_row: int | None = None) -> RowError:  # fmt: skip
    cell = row.cells.get(column)
    return RowError(
        row=row.number,
        column=column,
        code=code,
        message=message,
        value=cell.text if value is None and cell is not None else (value or ""),
        cell=cell.ref if cell is not None else "",
        other_row=other_row,
    )
