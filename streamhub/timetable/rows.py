"""A timetable sheet's rows read one by one: each cell checked against its column, each row's
lessons worked out in the county's time zone. Nothing here needs the catalog; the classrooms a
row names are resolved, and rows compared with each other and the catalog, in plan.py."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from streamhub.lesson.recurrence import Occurrence, RecurrenceError, expand
from streamhub.timetable.columns import (
    HEADERS,
    REQUIRED,
    Cell,
    CellError,
    Column,
    Problem,
    normalize,
    read_date,
    read_time,
    read_weekday,
    split_list,
)
from streamhub.timetable.sheets import Sheet, TimetableTooLarge, UnreadableTimetable, cell_ref

T = TypeVar("T")
# Lessons one import makes at most, its series expanded.
MAX_LESSONS = 20000
TITLE_MAX, LABEL_MAX = 200, 120
# The header is looked for among this many first rows (above it: a title, a note).
HEADER_SEARCH_ROWS = 5
SERIES_ID = re.compile(r"^[0-9a-f]{16}$")
_BY_HEADER = {normalize(name): column for column, names in HEADERS.items() for name in names}


@dataclass(frozen=True)
class RowError:
    """One problem, where a spreadsheet user finds it: the row number as the spreadsheet shows
    it, the column's name (``Column``, or the header as written for an unknown column), the
    cell (A1), a stable ``code`` and an English message (the admin page words it by code)."""

    row: int
    column: str
    code: Problem
    message: str
    value: str = ""
    cell: str = ""
    other_row: int | None = None
    other_lesson: int | None = None


@dataclass
class TimetableRow:
    number: int
    title: str
    subject: str | None  # None: the file has no such column (existing lessons keep theirs)
    lecturer: str | None
    classrooms: list[str]  # as written; resolved by the plan
    occurrences: list[Occurrence]
    series: str | None
    cells: dict[Column, Cell] = field(default_factory=dict)
    grade: str | None = None  # None: no such column (existing lessons keep theirs)


@dataclass
class ReadRows:
    rows: list[TimetableRow]  # the rows that could be read
    errors: list[RowError]
    # Rows with errors elsewhere, kept (without lessons) so that the plan checks their
    # classrooms too: the dry run lists every error of a row, not its first ones.
    unread: list[TimetableRow]
    columns: frozenset[Column]
    total: int  # data rows in the file


def read_rows(sheet: Sheet, zone: ZoneInfo) -> ReadRows:
    if not sheet.rows:
        raise UnreadableTimetable("the file has no rows")
    at = _header_at(sheet)
    header_number, header = sheet.rows[at]
    columns, errors = _header(header_number, header)
    missing = [c for c in REQUIRED if c not in columns.values()]
    if Column.DATE not in columns.values() and Column.WEEKDAY not in columns.values():
        missing.append(Column.DATE)
    for column in missing:
        message = f"no {column} column in the header"
        errors.append(RowError(header_number, column, Problem.MISSING_COLUMN, message))
    if missing:
        return ReadRows([], errors, [], frozenset(columns.values()), len(sheet.rows) - at - 1)
    rows: list[TimetableRow] = []
    unread: list[TimetableRow] = []
    lessons = 0
    for number, values in sheet.rows[at + 1 :]:
        cells = {
            column: Cell(values[i] if i < len(values) else None, cell_ref(i, number))
            for i, column in columns.items()
        }
        row = _row(number, cells, zone, errors, unread)
        if row is not None:
            lessons += len(row.occurrences)
            if lessons > MAX_LESSONS:
                raise TimetableTooLarge(
                    f"more than {MAX_LESSONS} lessons (row {number} goes past it): split the file"
                )
            rows.append(row)
    return ReadRows(rows, errors, unread, frozenset(columns.values()), len(sheet.rows) - at - 1)


def _header_at(sheet: Sheet) -> int:
    """Which row is the header: the first naming two known columns among the first few (a
    Chinese timetable often has its title, "2027年秋季学期课表", in a row above), else the first."""
    for at, (_, values) in enumerate(sheet.rows[:HEADER_SEARCH_ROWS]):
        names = {normalize(str(v)) for v in values if v is not None and str(v).strip()}
        if len(names & _BY_HEADER.keys()) >= 2:
            return at
    return 0


def _header(number: int, header: list[object]) -> tuple[dict[int, Column], list[RowError]]:
    columns: dict[int, Column] = {}
    errors: list[RowError] = []
    for index, value in enumerate(header):
        text = "" if value is None else str(value).strip()
        if not text:
            continue
        column = _BY_HEADER.get(normalize(text))
        ref = cell_ref(index, number)
        if column is None:
            message = f"unknown column {text!r}"
            errors.append(RowError(number, text, Problem.UNKNOWN_COLUMN, message, text, ref))
        elif column in columns.values():
            message = "this column is named twice"
            errors.append(RowError(number, column, Problem.DUPLICATE_COLUMN, message, text, ref))
        else:
            columns[index] = column
    if not columns:
        raise UnreadableTimetable(
            "no header row: the first row must name the columns "
            "(title, date, start, end, classrooms …; docs/timetable.md)"
        )
    return columns, errors


class _Row:
    """Reads one row's cells, noting every error."""

    def __init__(self, number: int, cells: dict[Column, Cell], errors: list[RowError]) -> None:
        self.number = number
        self.cells = cells
        self.errors = errors
        self.failed_columns: set[Column] = set()

    @property
    def failed(self) -> bool:
        return bool(self.failed_columns)

    def error(self, column: Column, code: Problem, message: str) -> None:
        cell = self.cells.get(column)
        value, ref = (cell.text, cell.ref) if cell is not None else ("", "")
        self.errors.append(RowError(self.number, column, code, message, value, ref))
        self.failed_columns.add(column)

    def has_error(self, column: Column) -> bool:
        return column in self.failed_columns

    def text(self, column: Column) -> str:
        cell = self.cells.get(column)
        return "" if cell is None else cell.text

    def label(self, column: Column, limit: int, required: bool = False) -> str | None:
        if column not in self.cells:
            return None
        text = self.text(column)
        if required and not text:
            self.error(column, Problem.MISSING, f"the {column} is missing")
        elif len(text) > limit:
            self.error(column, Problem.TOO_LONG, f"longer than {limit} characters")
        elif "\x00" in text:
            self.error(column, Problem.BAD_TEXT, "holds a NUL character")
        return text

    def read(
        self, column: Column, reader: Callable[[object], T], required: bool = False
    ) -> T | None:
        cell = self.cells.get(column)
        if cell is None or cell.text == "":
            if required:
                self.error(column, Problem.MISSING, f"the {column} is missing")
            return None
        try:
            return reader(cell.value)
        except CellError as exc:
            self.error(column, exc.code, str(exc))
            return None


def _row(
    number: int,
    cells: dict[Column, Cell],
    zone: ZoneInfo,
    errors: list[RowError],
    unread: list[TimetableRow],
) -> TimetableRow | None:
    r = _Row(number, cells, errors)
    title = r.label(Column.TITLE, TITLE_MAX, required=True) or ""
    subject = r.label(Column.SUBJECT, LABEL_MAX)
    grade = r.label(Column.GRADE, LABEL_MAX)
    lecturer = r.label(Column.LECTURER, LABEL_MAX)
    start = r.read(Column.START, read_time, required=True)
    end = r.read(Column.END, read_time, required=True)
    if isinstance(start, time) and isinstance(end, time) and end <= start:
        r.error(Column.END, Problem.END_BEFORE_START, "the lesson must end after it starts")
    classrooms = split_list(r.text(Column.CLASSROOMS))
    if not classrooms:
        r.error(Column.CLASSROOMS, Problem.MISSING, "the classrooms are missing")
    skip = frozenset(_skip_dates(r))
    occurrences = _when(r, zone, start, end, skip)
    if r.failed or not occurrences:
        if classrooms and not r.has_error(Column.CLASSROOMS):
            unread.append(
                TimetableRow(number, title, subject, lecturer, classrooms, [], None, cells, grade)
            )
        return None
    series_text = r.text(Column.SERIES)
    repeated = len(occurrences) > 1 or bool(r.text(Column.REPEAT) or r.text(Column.WEEKDAY))
    return TimetableRow(
        number=number,
        title=title,
        subject=subject,
        grade=grade,
        lecturer=lecturer,
        classrooms=classrooms,
        occurrences=occurrences,
        series=_series(series_text, title, occurrences[0], classrooms, repeated),
        cells=cells,
    )


def _skip_dates(r: _Row) -> list[date]:
    found = []
    for part in split_list(r.text(Column.SKIP_DATES)):
        try:
            found.append(read_date(part))
        except CellError as exc:
            r.error(Column.SKIP_DATES, exc.code, f"{part!r}: {exc}")
    return found


def _when(
    r: _Row, zone: ZoneInfo, start: object, end: object, skip: frozenset[date]
) -> list[Occurrence]:
    """The row's lessons: one on its date, its ``repeat`` rule's from that date, or one a week
    on its weekday from ``from`` until ``until``."""
    day = r.read(Column.DATE, read_date)
    weekday_given = bool(r.text(Column.WEEKDAY))
    rule = r.text(Column.REPEAT)
    if day is None and not weekday_given and not r.has_error(Column.DATE):
        column = Column.DATE if Column.DATE in r.cells else Column.WEEKDAY
        r.error(column, Problem.MISSING, "the date is missing (or a weekday with from and until)")
    if day is not None and weekday_given:
        r.error(Column.WEEKDAY, Problem.DATE_AND_WEEKDAY, "give a date or a weekday, not both")
    if rule and day is None and weekday_given:
        r.error(Column.REPEAT, Problem.REPEAT_WITH_WEEKDAY, "a repeat rule goes with a date")
    first: date | None = None
    if isinstance(day, date):
        first = day
    elif weekday_given:
        weekday = r.read(Column.WEEKDAY, read_weekday)
        since = r.read(Column.FROM, read_date, required=True)
        until = r.read(Column.UNTIL, read_date, required=True)
        if isinstance(since, date) and isinstance(until, date):
            if until < since:
                r.error(Column.UNTIL, Problem.BAD_RANGE, "until comes before from")
            elif isinstance(weekday, int):
                first = since + timedelta(days=(weekday - since.weekday()) % 7)
                rule = f"FREQ=WEEKLY;UNTIL={until:%Y%m%d}T235959"
                if first > until:
                    message = "no such weekday between from and until"
                    r.error(Column.WEEKDAY, Problem.NO_LESSONS, message)
    if r.failed or first is None or not isinstance(start, time) or not isinstance(end, time):
        return []
    begin = datetime.combine(first, start)
    length = datetime.combine(first, end) - begin
    if not rule:
        if first in skip:
            r.error(Column.SKIP_DATES, Problem.NO_LESSONS, "the lesson's date is a skipped date")
            return []
        return [
            Occurrence(
                begin.replace(tzinfo=zone).astimezone(UTC),
                (begin + length).replace(tzinfo=zone).astimezone(UTC),
                first,
            )
        ]
    try:
        return expand(rule, begin, length, zone, skip)
    except RecurrenceError as exc:
        column = Column.REPEAT if r.text(Column.REPEAT) else Column.UNTIL
        r.error(column, Problem.BAD_RULE, str(exc))
        return []


def _series(
    text: str, title: str, first: Occurrence, classrooms: list[str], repeated: bool
) -> str | None:
    """The lessons' series id: the cell's own when it is one (an export), one derived from the
    cell's name, or for a repeated row one derived from the row, so that importing the file
    again gives the same id."""
    if SERIES_ID.match(text):
        return text
    if text:
        seed = f"series:{normalize(text)}"
    elif repeated:
        seed = f"row:{title}|{first.start.isoformat()}|{'|'.join(classrooms)}"
    else:
        return None
    return hashlib.sha256(seed.encode()).hexdigest()[:16]
