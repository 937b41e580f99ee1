"""A classroom's or a lecturer's lessons as an iCalendar feed (RFC 5545, through the
``icalendar`` library) for their calendar apps.

Times are written in the county's time zone with its VTIMEZONE (UTC when the county is on
UTC), so calendars show the wall time the timetable says whatever zone the reader is in. Each
lesson keeps its UID for life (lesson ids are never reused): a moved lesson moves in the
calendar instead of doubling. A cancelled occurrence is a deleted lesson, so it leaves the
feed, and calendar apps drop it at their next refresh."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from streamhub.timetable.model import ScheduledLesson

# How far back and ahead a feed reaches, and how many lessons it carries at most.
PAST = timedelta(days=90)
AHEAD = timedelta(days=400)
MAX_EVENTS = 3000
# Calendar apps that honour it read the feed again this often.
REFRESH = timedelta(hours=1)


def lesson_uid(lesson_id: int, public_url: str) -> str:
    host = urlsplit(public_url).hostname or "streamhub"
    return f"lesson-{lesson_id}@{host}"


def feed_calendar(
    name: str,
    lessons: Sequence[ScheduledLesson],
    zone: ZoneInfo,
    public_url: str,
    page: str,
    now: datetime | None = None,
) -> bytes:
    """``page``: "classroom" or "lesson", the page each lesson's join link opens."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", "-//StreamHub//Timetable//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", zone.key)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")  # Outlook's name for REFRESH-INTERVAL
    base = public_url.rstrip("/")
    for lesson in lessons:
        link = f"{base}/{page}/{lesson.join_code}"
        rooms = ", ".join(f"{c.school}/{c.name}" for c in lesson.classrooms)
        event = Event()
        event.add("uid", lesson_uid(lesson.id, public_url))
        event.add("dtstamp", stamp)
        event.add("dtstart", lesson.start.astimezone(zone))
        event.add("dtend", lesson.end.astimezone(zone))
        event.add("summary", lesson.title)
        lines = [
            f"Lecturer: {lesson.lecturer}" if lesson.lecturer else "",
            f"Subject: {lesson.subject}" if lesson.subject else "",
            f"Classrooms: {rooms}" if rooms else "",
            f"Join code: {lesson.join_code}",
            f"Join: {link}",
        ]
        event.add("description", "\n".join(line for line in lines if line))
        if rooms:
            event.add("location", rooms)
        event.add("url", link)
        event.add("status", "CONFIRMED")
        calendar.add_component(event)
    if zone.key != "UTC" and lessons:
        # The zone's rules over the feed's span only (not its history since 1970).
        first = min(x.start for x in lessons).date() - timedelta(days=31)
        last = max(x.end for x in lessons).date() + timedelta(days=31)
        calendar.add_missing_timezones(first_date=first, last_date=last)
    return bytes(calendar.to_ical())
