"""A term's timetable (issue 16): a lesson series from a recurrence rule in the county's time
zone, skipping holidays; a dry run writes nothing; one occurrence moved, one cancelled; a
classroom PC is handed the occurrence that is live; what is left of the series cancelled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from classroom_agent.hub_api import DeviceApi
from streamhub.config import Settings
from tests.support.hub import AdminApi, HubFactory, InProcessHub

TERM = {
    "title": "Mathematics 7A",
    "subject": "Mathematics",
    "lecturer_name": "Ms Li",
    "first_start": "2027-09-01T08:00:00",  # 08:00 in Shanghai
    "duration_minutes": 45,
    "rule": "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20271231T235959",
    # National Day week.
    "skip_dates": [f"2027-10-0{d}" for d in range(1, 8)],
}


@pytest.fixture
async def hub(database_url: str | None, make_hub: HubFactory) -> InProcessHub:
    return await make_hub(
        recorder={"enabled": False}, county_timezone="Asia/Shanghai", database_url=database_url
    )


async def lessons(admin: AdminApi, **params: Any) -> list[dict[str, Any]]:
    response = await admin.http.get("/api/lessons", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_term_of_lessons_from_one_rule(hub: InProcessHub) -> None:
    admin = AdminApi(hub.url)
    pc: DeviceApi | None = None
    try:
        await admin.subject("Mathematics")
        school = await admin.post("/api/schools", {"name": "Hill School"})
        room = await admin.post("/api/classrooms", {"name": "一班", "school_id": school["id"]})
        credential = (await admin.post(f"/api/classrooms/{room['id']}/device-credential"))[
            "credential"
        ]
        body = {**TERM, "classroom_ids": [room["id"]]}

        dry = await admin.http.post("/api/lessons/series", json={**body, "dry_run": True})
        assert dry.status_code == 200, dry.text
        planned = dry.json()
        assert planned["series"] is None and planned["lessons"] == []
        assert planned["timezone"] == "Asia/Shanghai"
        assert await lessons(admin) == []  # nothing written

        made = await admin.post("/api/lessons/series", body)
        series = made["series"]
        assert [o["scheduled_start"] for o in made["occurrences"]] == [
            o["scheduled_start"] for o in planned["occurrences"]
        ]
        term = await lessons(admin, series=series)
        assert len(term) == len(planned["occurrences"]) > 30
        starts = [datetime.fromisoformat(x["scheduled_start"]) for x in term]
        # 08:00 in Shanghai is midnight UTC, every week of the term; none in the holiday week.
        assert all((s.astimezone(UTC).hour, s.minute) == (0, 0) for s in starts)
        assert not [s for s in starts if datetime(2027, 10, 1, tzinfo=UTC) <= s
                    < datetime(2027, 10, 8, tzinfo=UTC)]  # fmt: skip
        assert all(x["series"] == series and x["classroom_ids"] == [room["id"]] for x in term)
        assert len({x["join_code"] for x in term}) == len(term)

        # Move one occurrence (a school trip), cancel another (an exam).
        moved, cancelled = term[4], term[5]
        patched = await admin.http.patch(
            f"/api/lessons/{moved['id']}",
            json={
                "scheduled_start": "2027-09-16T02:00:00Z",
                "scheduled_end": "2027-09-16T02:45:00Z",
            },
        )
        assert patched.status_code == 200, patched.text
        assert (await admin.http.delete(f"/api/lessons/{cancelled['id']}")).status_code == 204
        after = await lessons(admin, series=series)
        assert len(after) == len(term) - 1
        assert cancelled["id"] not in {x["id"] for x in after}
        assert next(x for x in after if x["id"] == moved["id"])["scheduled_start"].startswith(
            "2027-09-16T02:00"
        )

        # The classroom PC is handed the occurrence that is live, not its neighbours.
        live = term[2]
        await admin.post(f"/api/lessons/{live['id']}/start")
        pc = DeviceApi(hub.url, credential)
        token = await pc.token(None)
        assert token.lesson_id == live["id"] and token.lesson_code == live["join_code"]

        # Cancelling the rest of the term keeps the lesson that went live.
        gone = await admin.http.delete(f"/api/lessons/series/{series}")
        assert gone.status_code == 200 and gone.json() == {"deleted": len(after) - 1}
        assert [x["id"] for x in await lessons(admin, series=series)] == [live["id"]]
        unknown = await admin.http.delete("/api/lessons/series/0123456789abcdef")
        assert unknown.status_code == 404
    finally:
        if pc is not None:
            await pc.close()
        await admin.close()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"rule": "FREQ=WEEKLY;BYDAY=MO"}, "needs an end"),
        ({"rule": "FREQ=DAILY;COUNT=5000"}, "more than"),
        ({"first_start": "2027-09-01T08:00:00+08:00"}, ""),
        ({"duration_minutes": 0}, ""),
    ],
)
async def test_rules_that_cannot_make_a_timetable_are_refused(
    hub: InProcessHub, change: dict[str, Any], words: str
) -> None:
    admin = AdminApi(hub.url)
    try:
        refused = await admin.http.post("/api/lessons/series", json={**TERM, **change})
        assert refused.status_code in (400, 422), refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert words in refused.text
        assert await lessons(admin) == []
    finally:
        await admin.close()


def test_the_county_time_zone_is_checked() -> None:
    assert Settings(county_timezone="Asia/Shanghai").county_zone.key == "Asia/Shanghai"
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings(county_timezone="Mars/Olympus_Mons")
