"""The days lessons happen in. Dates far outside are refused where they come in (a query, a
lesson, a timetable row): converting them to the county's time zone, or one day past the last,
overflows Python's dates (a fuzzed ``9999-12-31`` was a 500 of the timetable export)."""

from __future__ import annotations

from datetime import date

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2199, 12, 31)


def in_era(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY
