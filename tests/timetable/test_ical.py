"""The .ics a feed writes, read back with ``icalendar``: in a county with daylight saving the
wall time holds across the change and the UTC instant is the lesson's; a UTC county gets UTC
times and no VTIMEZONE."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from icalendar import Calendar

from streamhub.timetable.ical import feed_calendar
from streamhub.timetable.model import ClassroomRef, ScheduledLesson

BERLIN = ZoneInfo("Europe/Berlin")
ROOM = ClassroomRef(7, "Klasse 5a", "Grundschule")


def at(day: int, zone: ZoneInfo) -> ScheduledLesson:
    """08:00 local on 2027-03-<day> (daylight saving starts on the 28th in Berlin)."""
    start = datetime(2027, 3, day, 8, tzinfo=zone).astimezone(UTC)
    end = datetime(2027, 3, day, 8, 45, tzinfo=zone).astimezone(UTC)
    return ScheduledLesson(day, "Mathe", "", "Frau Li", start, end, "scheduled", None,
                           f"CODE{day}", [ROOM])  # fmt: skip


def test_wall_times_hold_across_daylight_saving() -> None:
    lessons = [at(26, BERLIN), at(29, BERLIN)]
    body = feed_calendar("Klasse 5a", lessons, BERLIN, "https://hub.example", "classroom")
    calendar = Calendar.from_ical(body)
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    found = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert set(found) == {"lesson-26@hub.example", "lesson-29@hub.example"}
    for lesson in lessons:
        event = found[f"lesson-{lesson.id}@hub.example"]
        start = event.decoded("DTSTART")
        assert start == lesson.start and start.time() == time(8, 0)
        assert event.decoded("DTEND") == lesson.end
        assert "https://hub.example/classroom/CODE" in str(event["DESCRIPTION"])
    # One hour less UTC offset after the change: 07:00 UTC, then 06:00 UTC.
    assert [x.start.hour for x in lessons] == [7, 6]


def test_a_utc_county_writes_utc_times() -> None:
    body = feed_calendar("x", [at(26, UTC)], ZoneInfo("UTC"), "https://hub.example", "lesson")
    calendar = Calendar.from_ical(body)
    assert calendar.walk("VTIMEZONE") == []
    (event,) = calendar.walk("VEVENT")
    assert b"DTSTART:20270326T080000Z" in body
    assert event.decoded("DTSTART") == datetime(2027, 3, 26, 8, tzinfo=UTC)
    assert "https://hub.example/lesson/CODE26" in str(event["URL"])
