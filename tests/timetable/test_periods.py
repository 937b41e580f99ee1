"""The library's periods in the county's time zone: weeks Monday to Sunday, the configured term
holding today, else the half-year."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from streamhub.config import TermSettings
from streamhub.timetable.periods import Period, period_span

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Sunday 20:00 UTC is already Monday 04:00 in Shanghai.
NOW = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


def test_weeks_are_the_countys() -> None:
    week = period_span(Period.THIS_WEEK, NOW, SHANGHAI)
    assert (week.first_day, week.last_day) == (date(2026, 11, 30), date(2026, 12, 6))
    assert week.start == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)  # Monday 00:00 in Shanghai
    last = period_span(Period.LAST_WEEK, NOW, SHANGHAI)
    assert (last.first_day, last.last_day) == (date(2026, 11, 23), date(2026, 11, 29))
    assert last.end == week.start
    # In UTC the same instant is still Sunday: last week is the one before.
    utc = period_span(Period.LAST_WEEK, NOW, ZoneInfo("UTC"))
    assert utc.first_day == date(2026, 11, 16)


def test_the_term_is_the_configured_one_else_the_half_year() -> None:
    autumn = TermSettings(
        name="2026秋季学期", first_day=date(2026, 9, 1), last_day=date(2027, 1, 20)
    )
    term = period_span(Period.THIS_TERM, NOW, SHANGHAI, [autumn])
    assert (term.first_day, term.last_day, term.name) == (autumn.first_day, autumn.last_day,
                                                          "2026秋季学期")  # fmt: skip
    half = period_span(Period.THIS_TERM, NOW, SHANGHAI)
    assert (half.first_day, half.last_day, half.name) == (date(2026, 8, 1), date(2027, 1, 31), "")
    spring = period_span(Period.THIS_TERM, datetime(2027, 3, 1, tzinfo=UTC), SHANGHAI, [autumn])
    assert (spring.first_day, spring.last_day) == (date(2027, 2, 1), date(2027, 7, 31))
    january = period_span(Period.THIS_TERM, datetime(2027, 1, 25, tzinfo=UTC), SHANGHAI)
    assert january.first_day == date(2026, 8, 1)
