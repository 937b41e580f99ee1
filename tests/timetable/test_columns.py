"""Cells as people type them in Excel or WPS: dates, times and weekdays in their common
spellings (full-width too), and the admin page's copy of the column names."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path

import pytest

from streamhub.timetable.columns import (
    CellError,
    Column,
    read_date,
    read_time,
    read_weekday,
    split_list,
    write_time,
)

WEB = Path(__file__).resolve().parents[2] / "web"


@pytest.mark.parametrize(
    "cell",
    ["2027-09-01", "2027/9/1", "2027.09.01", "2027年9月1日", "２０２７-０９-０１",
     datetime(2027, 9, 1, 0, 0), date(2027, 9, 1), 46631],
)  # fmt: skip
def test_dates(cell: object) -> None:
    assert read_date(cell) == date(2027, 9, 1)


@pytest.mark.parametrize("cell", ["2027-02-30", "next monday", "9/1/2027", "", 0])
def test_not_dates(cell: object) -> None:
    with pytest.raises(CellError) as refused:
        read_date(cell)
    assert refused.value.code == "bad_date"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("8:00", time(8)), ("08:00", time(8)), ("8：05", time(8, 5)), ("8.05", time(8, 5)),
     ("08:00:30", time(8, 0, 30)), ("08:00:00.250000", time(8, 0, 0, 250000)),
     (time(14, 30), time(14, 30)), (0.375, time(9))],
)  # fmt: skip
def test_times(cell: object, expected: time) -> None:
    assert read_time(cell) == expected


@pytest.mark.parametrize("cell", ["25:00", "8", "8:7", "noon"])
def test_not_times(cell: object) -> None:
    with pytest.raises(CellError) as refused:
        read_time(cell)
    assert refused.value.code == "bad_time"


def test_times_written_back_exactly() -> None:
    for value in (time(8), time(8, 0, 30), time(8, 0, 0, 250000)):
        assert read_time(write_time(value)) == value
    assert write_time(time(8)) == "08:00"


def test_weekdays_and_lists() -> None:
    assert [read_weekday(x) for x in ("周一", "星期二", "Wed", "thursday", "FR", "6", "周日")] == [
        0, 1, 2, 3, 4, 5, 6,
    ]  # fmt: skip
    with pytest.raises(CellError):
        read_weekday("周八")
    listed = split_list("A/一班；A/二班、B/三班, #4\n#5")
    assert listed == ["A/一班", "A/二班", "B/三班", "#4", "#5"]


def test_the_admin_page_knows_every_column() -> None:
    text = (WEB / "js" / "timetable.js").read_text(encoding="utf-8")
    listed = re.search(r"const COLUMNS = \[(.*?)\];", text, re.S)
    assert listed, "timetable.js has no COLUMNS"
    assert re.findall(r'"(\w+)"', listed[1]) == [c.value for c in Column]
