"""Calendar feeds (issue 16): a classroom's and a lecturer's lessons as .ics, read back with the
``icalendar`` library: wall times in the county's time zone with its VTIMEZONE, one stable UID
per lesson, the join link in the description; a cancelled lesson leaves the feed; a revoked
feed answers 404. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from tests.support.hub import AdminApi, HubFactory, InProcessHub

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def hub(database_url: str | None, make_hub: HubFactory) -> InProcessHub:
    return await make_hub(
        recorder={"enabled": False}, county_timezone="Asia/Shanghai", database_url=database_url
    )


def soon(days: int, hour: int, minute: int = 0) -> datetime:
    """A wall time in Shanghai ``days`` from today."""
    today = datetime.now(SHANGHAI).date() + timedelta(days=days)
    return datetime(today.year, today.month, today.day, hour, minute, tzinfo=SHANGHAI)


async def lesson(admin: AdminApi, title: str, start: datetime, rooms: list[int], who: str) -> Any:
    return await admin.post(
        "/api/lessons",
        {
            "title": title,
            "lecturer_name": who,
            "scheduled_start": start.isoformat(),
            "scheduled_end": (start + timedelta(minutes=45)).isoformat(),
            "classroom_ids": rooms,
        },
    )


def feed_path(hub: InProcessHub, feed: dict[str, Any]) -> str:
    url = str(feed["url"])
    assert url.startswith(hub.settings.effective_public_url + "/calendar/cal_"), url
    return url.removeprefix(hub.settings.effective_public_url)


def events(body: bytes) -> dict[str, Any]:
    calendar = Calendar.from_ical(body)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


async def test_feeds_for_a_classroom_and_a_lecturer(hub: InProcessHub) -> None:
    admin = AdminApi(hub.url)
    reader = httpx.AsyncClient(base_url=hub.url, timeout=15)  # a calendar app: no credential
    try:
        school = await admin.post("/api/schools", {"name": "河西小学"})
        one = await admin.post("/api/classrooms", {"name": "一班", "school_id": school["id"]})
        two = await admin.post("/api/classrooms", {"name": "二班", "school_id": school["id"]})
        # 07:30 in Shanghai is the previous day in UTC: the date must not slip.
        early = await lesson(admin, "数学", soon(3, 7, 30), [one["id"]], "李老师")
        late = await lesson(admin, "语文", soon(4, 15), [one["id"], two["id"]], "王老师")
        other = await lesson(admin, "英语", soon(4, 9), [two["id"]], "李老师")

        by_name = {"kind": "classroom", "classroom": "河西小学/一班"}
        made = await admin.post("/api/calendar-feeds", by_name)
        assert made["classroom_id"] == one["id"] and made["url"].endswith(".ics")
        path = feed_path(hub, made)
        answer = await reader.get(path)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/calendar")
        calendar = Calendar.from_ical(answer.content)
        assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]
        found = events(answer.content)
        assert len(found) == 2  # the classroom's two lessons, not 二班's alone
        first = next(e for e in found.values() if str(e["SUMMARY"]) == "数学")
        start = first.decoded("DTSTART")
        assert start == soon(3, 7, 30) and start.tzinfo is not None
        assert str(start.tzinfo) == "Asia/Shanghai"
        assert start.astimezone(UTC) == soon(3, 7, 30).astimezone(UTC)
        assert start.astimezone(UTC).date() == (soon(3, 7, 30) - timedelta(days=1)).date()
        assert first.decoded("DTEND") - start == timedelta(minutes=45)
        assert first["DTSTART"].params["TZID"] == "Asia/Shanghai"
        description = str(first["DESCRIPTION"])
        assert f"/classroom/{early['join_code']}" in description and "李老师" in description
        assert str(first["STATUS"]) == "CONFIRMED"
        uids = set(found)

        # Moving a lesson keeps its UID; cancelling one takes it out of the feed.
        moved = soon(5, 10)
        patched = await admin.http.patch(
            f"/api/lessons/{early['id']}",
            json={
                "scheduled_start": moved.isoformat(),
                "scheduled_end": (moved + timedelta(minutes=45)).isoformat(),
            },
        )
        assert patched.status_code == 200, patched.text
        assert (await admin.http.delete(f"/api/lessons/{late['id']}")).status_code == 204
        after = events((await reader.get(path)).content)
        assert set(after) < uids and len(after) == 1
        (kept,) = after.values()
        assert kept.decoded("DTSTART") == moved

        mine = await admin.post("/api/calendar-feeds", {"kind": "lecturer", "lecturer": "李老师"})
        teaching = events((await reader.get(feed_path(hub, mine))).content)
        assert {str(e["SUMMARY"]) for e in teaching.values()} == {"数学", "英语"}
        english = next(e for e in teaching.values() if str(e["SUMMARY"]) == "英语")
        assert f"/lesson/{other['join_code']}" in str(english["DESCRIPTION"])

        listed = (await admin.http.get("/api/calendar-feeds")).json()
        assert {f["id"] for f in listed} == {made["id"], mine["id"]}
        assert all("url" not in f and "token" not in f for f in listed)
        assert next(f for f in listed if f["id"] == made["id"])["last_used_at"] is not None

        # Revoked: gone at once; a made-up token was never there.
        assert (await admin.http.delete(f"/api/calendar-feeds/{made['id']}")).status_code == 204
        assert (await reader.get(path)).status_code == 404
        assert (await reader.get("/calendar/cal_made-up-token.ics")).status_code == 404
        refused = await admin.http.post(
            "/api/calendar-feeds", json={"kind": "classroom", "classroom": "一班 of nowhere"}
        )
        assert refused.status_code in (400, 404) and refused.json()["detail"]
    finally:
        await reader.aclose()
        await admin.close()
