"""The timetable file's columns, their English and Chinese headers, and how one cell is read
(dates, times, weekdays and lists as people type them in Excel or WPS)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from streamhub.era import FIRST_DAY, LAST_DAY, in_era


class Column(StrEnum):
    """A column, by the name errors and docs/timetable.md use."""

    TITLE = "title"
    SUBJECT = "subject"
    GRADE = "grade"
    LECTURER = "lecturer"
    DATE = "date"
    WEEKDAY = "weekday"
    FROM = "from"
    UNTIL = "until"
    START = "start"
    END = "end"
    CLASSROOMS = "classrooms"
    REPEAT = "repeat"
    SKIP_DATES = "skip_dates"
    SERIES = "series"


class Problem(StrEnum):
    """What is wrong with a cell or a row: the ``code`` of an import's errors (the admin page
    words each one in its language)."""

    MISSING_COLUMN = "missing_column"
    UNKNOWN_COLUMN = "unknown_column"
    DUPLICATE_COLUMN = "duplicate_column"
    MISSING = "missing"
    TOO_LONG = "too_long"
    BAD_TEXT = "bad_text"
    END_BEFORE_START = "end_before_start"
    DATE_AND_WEEKDAY = "date_and_weekday"
    REPEAT_WITH_WEEKDAY = "repeat_with_weekday"
    BAD_RANGE = "bad_range"
    NO_LESSONS = "no_lessons"
    BAD_RULE = "bad_rule"
    DUPLICATE = "duplicate"
    AMBIGUOUS_CLASSROOM = "ambiguous_classroom"
    UNKNOWN_CLASSROOM = "unknown_classroom"
    UNKNOWN_SUBJECT = "unknown_subject"
    RETIRED_SUBJECT = "retired_subject"
    UNKNOWN_GRADE = "unknown_grade"
    RETIRED_GRADE = "retired_grade"
    OVERLAP = "overlap"
    BAD_DATE = "bad_date"
    BAD_TIME = "bad_time"
    BAD_WEEKDAY = "bad_weekday"


# Every header a column is known by (compared after ``normalize``). The first Chinese one is
# what an export with Chinese headers writes.
HEADERS: dict[Column, tuple[str, ...]] = {
    Column.TITLE: ("title", "课程", "课程名称", "标题"),
    Column.SUBJECT: ("subject", "科目", "学科"),
    Column.GRADE: ("grade", "年级"),
    Column.LECTURER: ("lecturer", "主讲教师", "主讲", "教师", "讲师"),
    Column.DATE: ("date", "日期"),
    Column.WEEKDAY: ("weekday", "星期", "周几"),
    Column.FROM: ("from", "起始日期", "开始日期"),
    Column.UNTIL: ("until", "截止日期", "结束日期"),
    Column.START: ("start", "开始时间", "上课时间", "开始"),
    Column.END: ("end", "结束时间", "下课时间", "结束"),
    Column.CLASSROOMS: ("classrooms", "教室", "上课教室"),
    Column.REPEAT: ("repeat", "重复", "重复规则"),
    Column.SKIP_DATES: ("skip dates", "skip_dates", "跳过日期", "节假日"),
    Column.SERIES: ("series", "系列"),
}
REQUIRED = (Column.TITLE, Column.START, Column.END, Column.CLASSROOMS)
# What an export writes, in this order: one lesson per row.
EXPORTED = (
    Column.TITLE,
    Column.SUBJECT,
    Column.GRADE,
    Column.LECTURER,
    Column.DATE,
    Column.START,
    Column.END,
    Column.CLASSROOMS,
    Column.SERIES,
)

# Lists in one cell: classrooms, skip dates. Half- and full-width, as Chinese input gives them.
LIST_SEPARATORS = re.compile(r"[;；、,，\n]+")
WEEKDAYS = {
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{name: i for i, name in enumerate(("mo", "tu", "we", "th", "fr", "sa", "su"))},
    **{
        name: i
        for i, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
    **{
        f"{prefix}{day}": i
        for prefix in ("周", "星期", "礼拜")
        for i, day in enumerate("一二三四五六日")
    },
    "周天": 6,
    "星期天": 6,
    **{str(i + 1): i for i in range(7)},
}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_TIME = re.compile(r"^(\d{1,2})[:：.](\d{2})(?:[:：](\d{2})(?:\.(\d{1,6}))?)?$")
# Excel's day 0 (its serial numbers count days from here, with the 1900 leap-year bug).
_EXCEL_EPOCH = datetime(1899, 12, 30)


class CellError(ValueError):
    """A cell that cannot be read as its column's kind; the message says what was expected."""

    def __init__(self, code: Problem, message: str) -> None:
        super().__init__(message)
        self.code = code


def normalize(text: str) -> str:
    """For comparing names and headers: full-width forms folded (NFKC), case and spacing
    ignored."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.replace("_", " ").split())


@dataclass(frozen=True)
class Cell:
    """A cell as read from the file: its text (or the date/time/number XLSX gave) and where."""

    value: object
    ref: str  # A1-style, e.g. "C7"

    @property
    def text(self) -> str:
        if self.value is None:
            return ""
        if isinstance(self.value, float) and self.value.is_integer():
            return str(int(self.value))
        return str(self.value).strip()


def read_date(value: object) -> date:
    day = _read_date(value)
    if not in_era(day):
        raise CellError(Problem.BAD_DATE, f"a date from {FIRST_DAY.year} to {LAST_DAY.year}")
    return day


def _read_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and 1 < value < 200000:
        return (_EXCEL_EPOCH + timedelta(days=int(value))).date()
    text = unicodedata.normalize("NFKC", str(value)).strip()
    match = _DATE.match(text)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise CellError(Problem.BAD_DATE, "not a date: write YYYY-MM-DD (2027-09-01)")


def read_time(value: object) -> time:
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    if isinstance(value, float | int) and not isinstance(value, bool) and 0 <= value < 1:
        # A time cell formatted as a number: a fraction of a day, to the second.
        seconds = round(value * 86400)
        return time(seconds // 3600, seconds // 60 % 60, seconds % 60)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    match = _TIME.match(text)
    if match:
        micro = int((match[4] or "0").ljust(6, "0"))
        try:
            return time(int(match[1]), int(match[2]), int(match[3] or 0), micro)
        except ValueError:
            pass
    raise CellError(Problem.BAD_TIME, "not a time of day: write HH:MM (08:00)")


def write_time(value: time) -> str:
    """HH:MM, or more digits when the lesson's time has them (an export re-imports exactly)."""
    if value.second == 0 and value.microsecond == 0:
        return value.strftime("%H:%M")
    return value.isoformat()


def read_weekday(value: object) -> int:
    """0 for Monday … 6 for Sunday."""
    key = normalize(str(value)).removesuffix(".")
    if key in WEEKDAYS:
        return WEEKDAYS[key]
    raise CellError(Problem.BAD_WEEKDAY, "not a weekday: write Mon…Sun, 周一…周日 or 1…7")


def split_list(text: str) -> list[str]:
    return [part.strip() for part in LIST_SEPARATORS.split(text) if part.strip()]
