"""The library's periods ("this week", "last week", "this term") as instants: weeks run Monday
to Sunday in the county's time zone; a term is the configured one holding today, else the
half-year holding it (February–July, August–January)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from streamhub.config import TermSettings


class Period(StrEnum):
    THIS_WEEK = "this_week"
    LAST_WEEK = "last_week"
    THIS_TERM = "this_term"


@dataclass(frozen=True)
class Span:
    start: datetime  # included
    end: datetime  # excluded
    first_day: date
    last_day: date
    name: str  # a term's name; "" for weeks


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _span(first: date, last: date, zone: ZoneInfo, name: str = "") -> Span:
    return Span(
        _midnight(first, zone), _midnight(last + timedelta(days=1), zone), first, last, name
    )


def period_span(
    period: Period, now: datetime, zone: ZoneInfo, terms: Sequence[TermSettings] = ()
) -> Span:
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    if period is Period.THIS_WEEK:
        return _span(monday, monday + timedelta(days=6), zone)
    if period is Period.LAST_WEEK:
        return _span(monday - timedelta(days=7), monday - timedelta(days=1), zone)
    for term in terms:
        if term.first_day <= today <= term.last_day:
            return _span(term.first_day, term.last_day, zone, term.name)
    if 2 <= today.month <= 7:
        return _span(date(today.year, 2, 1), date(today.year, 7, 31), zone)
    year = today.year if today.month >= 8 else today.year - 1
    return _span(date(year, 8, 1), date(year + 1, 1, 31), zone)
