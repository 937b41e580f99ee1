"""A term's timetable from a recurrence rule (streamhub.lesson.recurrence)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from streamhub.lesson.recurrence import MAX_OCCURRENCES, RecurrenceError, expand

SHANGHAI = ZoneInfo("Asia/Shanghai")  # no daylight saving: 08:00 is always 00:00 UTC
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(minutes=45)


def test_a_term_of_mondays_and_wednesdays_without_the_national_day_holiday() -> None:
    holidays = frozenset(date(2027, 10, d) for d in range(1, 8))
    found = expand(
        "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20271231T235959",
        datetime(2027, 9, 1, 8, 0),
        HOUR,
        SHANGHAI,
        holidays,
    )
    days = [o.local_date for o in found]
    assert days[0] == date(2027, 9, 1) and days[-1] == date(2027, 12, 29)
    assert all(d.weekday() in (0, 2) for d in days)
    # Oct 4 and Oct 6 (Monday, Wednesday) fall in the holiday week.
    assert date(2027, 10, 4) not in days and date(2027, 10, 6) not in days
    assert date(2027, 9, 29) in days and date(2027, 10, 11) in days
    assert len(days) == 35 - 2
    assert all(o.start.tzinfo is UTC and (o.start.hour, o.start.minute) == (0, 0) for o in found)
    assert all(o.end - o.start == HOUR for o in found)


def test_the_local_time_holds_across_daylight_saving() -> None:
    found = expand("FREQ=WEEKLY;COUNT=3", datetime(2027, 3, 22, 8, 0), HOUR, BERLIN)
    # Berlin moves to summer time on 28 March 2027: 07:00 UTC, then 06:00 UTC.
    assert [o.start.hour for o in found] == [7, 6, 6]


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=WEEKLY;BYDAY=MO", "needs an end"),
        ("FREQ=FORTNIGHTLY;COUNT=3", "unreadable"),
        ("FREQ=DAILY;COUNT=1000", f"more than {MAX_OCCURRENCES}"),
    ],
)
def test_rules_that_cannot_make_a_timetable(rule: str, words: str) -> None:
    with pytest.raises(RecurrenceError, match=words):
        expand(rule, datetime(2027, 9, 1, 8, 0), HOUR, SHANGHAI)


def test_a_rule_whose_every_day_is_a_holiday_is_refused() -> None:
    with pytest.raises(RecurrenceError, match="no occurrence"):
        expand("FREQ=DAILY;COUNT=1", datetime(2027, 10, 1, 8), HOUR, SHANGHAI,
               frozenset({date(2027, 10, 1)}))  # fmt: skip
    with pytest.raises(RecurrenceError, match="no offset"):
        expand("FREQ=DAILY;COUNT=1", datetime(2027, 10, 1, 8, tzinfo=UTC), HOUR, SHANGHAI)
