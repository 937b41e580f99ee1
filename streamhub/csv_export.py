"""CSV files the hub writes for spreadsheet programs (the register, reports, answers, the access
log): a BOM, so that they read Chinese names right, and no cell they would run as a formula.

A cell starting with ``=``, ``+``, ``-`` or ``@`` is a formula to Excel and WPS (CSV injection):
a classroom's name, a question or a staff token's label, typed by somebody else, could run one
on the computer of the admin who opens the file. Such text gets a leading apostrophe; numbers
such as ``-5`` stay numbers. (The timetable export is left as it is: it must import back
unchanged, and its cells are the admins' own.)"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import datetime

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """A value as a spreadsheet should get it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The rows under their header, every cell through ``cell``, with a BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([cell(value) for value in row] for row in rows)
    return "\ufeff" + buffer.getvalue()
