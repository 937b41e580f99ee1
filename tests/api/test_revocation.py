"""Lecturer links and staff tokens are revocable, and a token's revocation or expiry ends the
live session it opened (issue 13, item 3), against a real in-process hub."""

from __future__ import annotations

import time

import httpx
import pytest

from streamhub.client import LessonClient
from streamhub.client.events import Closed
from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.wait import eventually

TOKEN_TTL_S = 10  # the shortest access-token lifetime the settings allow


@pytest.fixture
async def hub(database_url: str | None, make_hub: HubFactory) -> InProcessHub:
    return await make_hub(
        database_url=database_url,
        recorder={"enabled": False},
        auth={"access_token_ttl_s": TOKEN_TTL_S},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def closed_with(client: LessonClient, timeout: float = 15.0) -> Closed:
    return await eventually(lambda: client.closed, timeout)  # type: ignore[no-any-return]


async def test_revoking_a_lecturer_link_refuses_it_and_closes_its_live_session(
    hub: InProcessHub, admin: AdminApi
) -> None:
    setup = await admin.lesson(classrooms=0)
    lecturer = await lecturer_teaching(hub.url, setup.lecturer_token, 160, 120)
    spare = await admin.post(f"/api/lessons/{setup.lesson_id}/lecturer-link")
    try:
        listed = (await admin.http.get("/api/tokens", params={"lesson_id": setup.lesson_id})).json()
        mine = next(t for t in listed if t["id"] != spare["token_id"])
        assert mine["kind"] == "lecturer_link" and mine["revoked_at"] is None
        # Named by its lesson's title, which the admin page shows (no list of every lesson).
        assert mine["lesson_title"] == "Fractions"
        revoked = await admin.http.delete(f"/api/tokens/{mine['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        closed = await closed_with(lecturer)
        assert closed.code == 4401, closed
        h = bearer(setup.lecturer_token)
        refused = await admin.http.get(f"/api/lessons/{setup.lesson_id}", headers=h)
        assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
        again = LessonClient(hub.url, setup.lecturer_token)
        try:
            with pytest.raises(Exception, match="revoked"):
                await again.connect({})
        finally:
            await again.close()
        # The other link of the same lesson was not touched.
        ok = await admin.http.get(f"/api/lessons/{setup.lesson_id}", headers=bearer(spare["token"]))
        assert ok.status_code == 200
        active = (await admin.http.get("/api/tokens", params={"lesson_id": setup.lesson_id})).json()
        assert [t["id"] for t in active] == [spare["token_id"]]
    finally:
        await lecturer.close()


async def test_revoking_a_staff_token(hub: InProcessHub, admin: AdminApi) -> None:
    staff = await admin.post("/api/tokens/staff", {"label": "Library desk"})
    h = bearer(staff["token"])
    assert (await admin.http.get("/api/recordings", headers=h)).status_code == 200
    listed = (await admin.http.get("/api/tokens", params={"kind": "staff"})).json()
    assert [(t["id"], t["label"]) for t in listed] == [(staff["token_id"], "Library desk")]
    assert listed[0]["lesson_title"] is None
    assert (await admin.http.delete(f"/api/tokens/{staff['token_id']}")).status_code == 200
    refused = await admin.http.get("/api/recordings", headers=h)
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    assert (await admin.http.get("/api/tokens", params={"kind": "staff"})).json() == []
    everything = (await admin.http.get("/api/tokens", params={"active": False})).json()
    assert everything[0]["revoked_at"] is not None
    missing = await admin.http.delete("/api/tokens/999999")
    assert missing.status_code == 404


async def test_an_expired_token_ends_its_live_session(hub: InProcessHub, admin: AdminApi) -> None:
    setup = await admin.lesson(classrooms=1)
    token = await admin.device_token(setup.credentials[0], setup.code)
    issued = time.monotonic()
    classroom = LessonClient(hub.url, token)
    try:
        await classroom.connect({})
        closed = await closed_with(classroom, timeout=TOKEN_TTL_S + 20)
        # Not final: a classroom exchanges its credential again and rejoins.
        assert closed.code == 4440, closed
        assert time.monotonic() - issued >= TOKEN_TTL_S - 2
        async with httpx.AsyncClient(base_url=hub.url) as http:
            response = await http.get(f"/api/lessons/by-code/{setup.code}", headers=bearer(token))
        assert response.status_code == 401 and response.json()["code"] == "token_expired"
    finally:
        await classroom.close()
