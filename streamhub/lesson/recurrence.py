"""A term's timetable as recurrence rules (RFC 5545 RRULE, through python-dateutil): a lesson
series repeats at the same local time in the county's time zone, skipping holidays, whatever
daylight saving does to UTC. Each occurrence then becomes a lesson of its own, moved or
cancelled one by one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

# A series longer than this is a mistake (a school year of daily lessons is ~200).
MAX_OCCURRENCES = 400


class RecurrenceError(ValueError):
    """A rule that cannot make a timetable: unreadable, endless, empty or too long."""


@dataclass(frozen=True)
class Occurrence:
    start: datetime  # UTC
    end: datetime  # UTC
    local_date: date


def expand(
    rule: str,
    first_start: datetime,
    duration: timedelta,
    zone: ZoneInfo,
    skip_dates: frozenset[date] = frozenset(),
) -> list[Occurrence]:
    """Occurrences of ``rule`` from ``first_start`` (local wall time in ``zone``, naive), each
    ``duration`` long, except on ``skip_dates`` (holidays)."""
    if first_start.tzinfo is not None:
        raise RecurrenceError("the first start is a local time in the county's zone, no offset")
    text = rule.strip().removeprefix("RRULE:")
    upper = text.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        raise RecurrenceError("a series needs an end: COUNT=… or UNTIL=… in its rule")
    try:
        parsed = rrulestr(text, dtstart=first_start)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f"unreadable recurrence rule: {exc}") from None
    if not isinstance(parsed, rrule):
        raise RecurrenceError("one RRULE, without RDATE/EXDATE lines (list holidays instead)")
    found: list[Occurrence] = []
    for index, local in enumerate(parsed):
        if index >= MAX_OCCURRENCES:
            raise RecurrenceError(f"more than {MAX_OCCURRENCES} occurrences: end it sooner")
        if local.date() in skip_dates:
            continue
        # The wall time in the county's zone, whatever its UTC offset that day.
        start = local.replace(tzinfo=zone).astimezone(UTC)
        end = (local + duration).replace(tzinfo=zone).astimezone(UTC)
        found.append(Occurrence(start, end, local.date()))
    if not found:
        raise RecurrenceError("the rule gives no occurrence outside the skipped dates")
    return found
