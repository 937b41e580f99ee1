"""The HTTP API end to end against a real in-process hub: schools, classrooms and lessons,
problem+json errors, device credentials and their exchange, revocation, attendance, links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from streamhub.auth.tokens import TokenIssuer
from streamhub.client import LessonClient
from streamhub.protocol import Role
from tests.support.hub import (
    ADMIN_KEY,
    JWT_SECRET,
    TEST_HUB,
    AdminApi,
    HubFactory,
    InProcessHub,
)
from tests.support.wait import eventually

PROBLEM = "application/problem+json"
START = "2026-11-24T08:00:00Z"
END = "2026-11-24T09:00:00Z"


@pytest.fixture
async def hub(database_url: str | None, make_hub: HubFactory) -> InProcessHub:
    return await make_hub(**TEST_HUB, database_url=database_url)


# The many small request/response cases share one hub (module loop); the scenario tests below
# each get their own.
SHARED = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_admin(
    module_database_url: str | None, make_module_hub: HubFactory
) -> AsyncIterator[AdminApi]:
    running = await make_module_hub(recorder={"enabled": False}, database_url=module_database_url)
    api = AdminApi(running.url)
    await api.post("/api/schools", {"name": "Exists"})
    yield api
    await api.close()


@pytest.fixture
async def anon(hub: InProcessHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["code"], str) and body["code"]
    assert body["type"] == f"/problems/{body['code']}"
    assert body["detail"]
    if code is not None:
        assert body["code"] == code, body
    if status == 401:
        assert response.headers.get("www-authenticate") == "Bearer"
    return body


async def school_and_room(admin: AdminApi, rooms: int = 1) -> tuple[int, list[int]]:
    school = await admin.post("/api/schools", {"name": "Hill School", "region": "North"})
    ids = []
    for i in range(rooms):
        room = await admin.post("/api/classrooms", {"name": f"Room {i}", "school_id": school["id"]})
        ids.append(room["id"])
    return school["id"], ids


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def new_lesson(
    admin: AdminApi,
    classroom_ids: list[int],
    title: str = "Algebra",
    start_in: timedelta = timedelta(hours=1),
    open_to_all: bool = False,
) -> Any:
    return await admin.post(
        "/api/lessons",
        {
            "title": title,
            "lecturer_name": "Mr Okafor",
            "scheduled_start": iso(start_in),
            "scheduled_end": iso(start_in + timedelta(hours=1)),
            "classroom_ids": classroom_ids,
            "open_to_all": open_to_all,
        },
    )


async def issue(admin: AdminApi, classroom_id: int) -> Any:
    return await admin.post(f"/api/classrooms/{classroom_id}/device-credential", {"label": "PC"})


async def exchange(client: httpx.AsyncClient, credential: str, code: str | None) -> httpx.Response:
    return await client.post(
        "/api/device/token", json={"lesson_code": code}, headers=bearer(credential)
    )


# ---------------------------------------------------------------- catalog CRUD


async def test_school_classroom_lesson_lifecycle(admin: AdminApi) -> None:
    http = admin.http
    school = await admin.post("/api/schools", {"name": "  Ridge Primary ", "region": "East"})
    assert school["name"] == "Ridge Primary"  # whitespace is stripped
    assert school["region"] == "East"
    assert school["created_at"]

    room = await admin.post(
        "/api/classrooms", {"name": "Room 7", "school_id": school["id"], "region": "East"}
    )
    assert room["school_id"] == school["id"]
    assert room["school_name"] == "Ridge Primary"

    lesson = await new_lesson(admin, [room["id"]])
    assert lesson["status"] == "scheduled"
    assert lesson["classroom_ids"] == [room["id"]]
    assert lesson["title"] == "Algebra"
    assert lesson["started_at"] is None and lesson["ended_at"] is None
    code = lesson["join_code"]
    assert isinstance(code, str) and 4 <= len(code) <= 16 and code.isalnum()

    got = (await http.get(f"/api/lessons/{lesson['id']}")).json()
    assert got == lesson
    by_code = await http.get(f"/api/lessons/by-code/{code.lower()}")
    assert by_code.status_code == 200 and by_code.json()["id"] == lesson["id"]

    patched = await http.patch(f"/api/schools/{school['id']}", json={"name": "Ridge Academy"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Ridge Academy"
    assert patched.json()["region"] == "East"  # untouched fields stay
    room2 = (await http.patch(f"/api/classrooms/{room['id']}", json={"name": "Room 8"})).json()
    assert room2["name"] == "Room 8" and room2["school_name"] == "Ridge Academy"
    lesson2 = await http.patch(
        f"/api/lessons/{lesson['id']}", json={"title": "Geometry", "classroom_ids": []}
    )
    assert lesson2.status_code == 200, lesson2.text
    assert lesson2.json()["title"] == "Geometry"
    assert lesson2.json()["classroom_ids"] == []
    assert lesson2.json()["join_code"] == code

    assert (await http.delete(f"/api/lessons/{lesson['id']}")).status_code == 204
    assert_problem(await http.get(f"/api/lessons/{lesson['id']}"), 404, "not_found")
    assert (await http.delete(f"/api/classrooms/{room['id']}")).status_code == 204
    assert_problem(await http.get(f"/api/classrooms/{room['id']}"), 404, "not_found")
    assert (await http.delete(f"/api/schools/{school['id']}")).status_code == 204
    assert_problem(await http.get(f"/api/schools/{school['id']}"), 404, "not_found")


async def test_list_pagination(admin: AdminApi) -> None:
    http = admin.http
    school_ids = [
        (await admin.post("/api/schools", {"name": f"School {i:02d}"}))["id"] for i in range(7)
    ]
    first = (await http.get("/api/schools", params={"limit": 3})).json()
    assert first["total"] == 7 and first["limit"] == 3 and first["offset"] == 0
    assert len(first["items"]) == 3
    second = (await http.get("/api/schools", params={"limit": 3, "offset": 3})).json()
    third = (await http.get("/api/schools", params={"limit": 3, "offset": 6})).json()
    assert len(second["items"]) == 3 and len(third["items"]) == 1
    seen = [s["id"] for page in (first, second, third) for s in page["items"]]
    assert sorted(seen) == sorted(school_ids)  # no duplicates, nothing lost
    beyond = (await http.get("/api/schools", params={"offset": 50})).json()
    assert beyond["items"] == [] and beyond["total"] == 7

    rooms = []
    for i in range(4):
        room = await admin.post(
            "/api/classrooms", {"name": f"R{i}", "school_id": school_ids[i % 2]}
        )
        rooms.append(room["id"])
    only = (await http.get("/api/classrooms", params={"school_id": school_ids[0]})).json()
    assert only["total"] == 2
    assert {r["school_id"] for r in only["items"]} == {school_ids[0]}
    every = (await http.get("/api/classrooms", params={"limit": 1, "offset": 1})).json()
    assert every["total"] == 4 and len(every["items"]) == 1

    for i in range(5):
        await new_lesson(admin, [rooms[0]] if i < 2 else [], title=f"Lesson {i}")
    page = (await http.get("/api/lessons", params={"limit": 2, "offset": 4})).json()
    assert page["total"] == 5 and len(page["items"]) == 1
    mine = (await http.get("/api/lessons", params={"classroom_id": rooms[0]})).json()
    assert mine["total"] == 2
    scheduled = (await http.get("/api/lessons", params={"status": "scheduled"})).json()
    assert scheduled["total"] == 5
    live = (await http.get("/api/lessons", params={"status": "live"})).json()
    assert live["total"] == 0 and live["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/schools", {}),
        ("POST", "/api/schools", {"name": ""}),
        ("POST", "/api/schools", {"name": "   "}),
        ("POST", "/api/schools", {"name": "x" * 201}),
        ("POST", "/api/schools", {"name": "ok", "colour": "red"}),  # unknown field
        ("POST", "/api/classrooms", {"name": "R", "school_id": 0}),
        ("POST", "/api/classrooms", {"name": "R"}),
        ("POST", "/api/lessons", {"title": "T", "scheduled_start": START}),
        ("POST", "/api/lessons", {"title": "T", "scheduled_start": END, "scheduled_end": START}),
        (
            "POST",
            "/api/lessons",
            {"title": "T", "scheduled_start": "2026-11-24T08:00:00", "scheduled_end": END},
        ),
        ("GET", "/api/schools?limit=0", None),
        ("GET", "/api/schools?limit=501", None),
        ("GET", "/api/schools?offset=-1", None),
        ("GET", "/api/lessons?status=paused", None),
        ("GET", "/api/schools/abc", None),
        ("PATCH", "/api/schools/1", {"name": ""}),
    ],
)
@SHARED
async def test_validation_errors_are_problem_json(
    shared_admin: AdminApi, method: str, path: str, body: Any
) -> None:
    response = await shared_admin.http.request(method, path, json=body)
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"] and all("loc" in e and "msg" in e for e in problem["errors"])


async def test_malformed_json_body_is_422(admin: AdminApi) -> None:
    response = await admin.http.post(
        "/api/schools", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/schools/999999", None),
        ("PATCH", "/api/schools/999999", {"name": "x"}),
        ("DELETE", "/api/schools/999999", None),
        ("GET", "/api/classrooms/999999", None),
        ("PATCH", "/api/classrooms/999999", {"name": "x"}),
        ("DELETE", "/api/classrooms/999999", None),
        ("POST", "/api/classrooms/999999/device-credential", None),
        ("GET", "/api/classrooms/999999/device-credentials", None),
        ("DELETE", "/api/device-credentials/999999", None),
        ("GET", "/api/lessons/999999", None),
        ("PATCH", "/api/lessons/999999", {"title": "x"}),
        ("DELETE", "/api/lessons/999999", None),
        ("POST", "/api/lessons/999999/start", None),
        ("POST", "/api/lessons/999999/end", None),
        ("GET", "/api/lessons/999999/participants", None),
        ("POST", "/api/lessons/999999/lecturer-link", None),
        ("POST", "/api/lessons/999999/recorder-token", None),
        ("GET", "/api/lessons/by-code/ZZZZZZZZ", None),
        ("POST", "/api/classrooms", {"name": "R", "school_id": 999999}),
        (
            "POST",
            "/api/lessons",
            {"title": "T", "scheduled_start": START, "scheduled_end": END, "classroom_ids": [9999]},
        ),
        ("GET", "/api/nothing-here", None),
    ],
)
@SHARED
async def test_unknown_ids_are_404_problem_json(
    shared_admin: AdminApi, method: str, path: str, body: Any
) -> None:
    response = await shared_admin.http.request(method, path, json=body)
    assert_problem(response, 404)


async def test_attendance_of_unknown_lesson_is_404(admin: AdminApi) -> None:
    # Every other /lessons/{id} route answers 404 for a lesson that does not exist.
    assert_problem(await admin.http.get("/api/lessons/999999/attendance"), 404)


async def test_lesson_state_conflicts(admin: AdminApi) -> None:
    http = admin.http
    _, rooms = await school_and_room(admin)
    lesson = await new_lesson(admin, rooms)
    lid = lesson["id"]
    started = (await http.post(f"/api/lessons/{lid}/start")).json()
    assert started["status"] == "live" and started["started_at"]
    again = await http.post(f"/api/lessons/{lid}/start")  # idempotent
    assert again.status_code == 200 and again.json()["started_at"] == started["started_at"]
    assert_problem(await http.delete(f"/api/lessons/{lid}"), 409, "lesson_live")
    ended = (await http.post(f"/api/lessons/{lid}/end")).json()
    assert ended["status"] == "ended" and ended["ended_at"]
    assert_problem(await http.post(f"/api/lessons/{lid}/start"), 409, "lesson_ended")
    assert_problem(await http.patch(f"/api/lessons/{lid}", json={"title": "x"}), 409)
    assert (await http.delete(f"/api/lessons/{lid}")).status_code == 204


async def test_patch_lesson_schedule_must_stay_ordered(admin: AdminApi) -> None:
    lesson = await new_lesson(admin, [])
    response = await admin.http.patch(
        f"/api/lessons/{lesson['id']}", json={"scheduled_end": "2026-11-24T07:00:00Z"}
    )
    assert_problem(response, 409, "bad_schedule")
    unchanged = (await admin.http.get(f"/api/lessons/{lesson['id']}")).json()
    assert unchanged["scheduled_end"] == lesson["scheduled_end"]


# ---------------------------------------------------------------- device credentials


async def test_device_credential_exchange(
    hub: InProcessHub, admin: AdminApi, anon: httpx.AsyncClient
) -> None:
    _, (room, other_room) = await school_and_room(admin, rooms=2)
    lesson = await new_lesson(admin, [room])
    code = lesson["join_code"]

    issued = await issue(admin, room)
    credential = issued["credential"]
    assert issued["classroom_id"] == room
    assert credential.startswith(f"dc_{issued['credential_id']}_")
    assert len(credential) > len(f"dc_{issued['credential_id']}_") + 20
    assert credential in issued["agent_command"]
    assert credential in issued["classroom_page"]
    listed = (await admin.http.get(f"/api/classrooms/{room}/device-credentials")).json()
    assert [c["id"] for c in listed] == [issued["credential_id"]]
    assert listed[0]["label"] == "PC" and listed[0]["revoked_at"] is None
    assert "credential" not in listed[0] and "secret_hash" not in listed[0]

    # Before the lesson starts: not live, whether named by code or not.
    assert_problem(await exchange(anon, credential, code), 409, "lesson_not_live")
    assert_problem(await exchange(anon, credential, None), 404, "no_live_lesson")

    timetable = await anon.get("/api/device/lessons", headers=bearer(credential))
    assert timetable.status_code == 200, timetable.text
    assert timetable.json()["classroom_id"] == room
    assert [x["id"] for x in timetable.json()["lessons"]] == [lesson["id"]]
    assert timetable.json()["lessons"][0]["join_code"] == code

    await admin.post(f"/api/lessons/{lesson['id']}/start")
    for named in (code, code.lower(), None):
        got = await exchange(anon, credential, named)
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["lesson_id"] == lesson["id"] and body["lesson_code"] == code
        assert body["lesson_title"] == "Algebra" and body["expires_in_s"] > 0
        grant = hub.services.tokens.verify(body["token"])
        assert grant.role is Role.CLASSROOM
        assert grant.lesson == lesson["id"] and grant.classroom_id == room
        assert grant.credential_id == issued["credential_id"]
        # The access token opens its own lesson.
        mine = await anon.get(f"/api/lessons/by-code/{code}", headers=bearer(body["token"]))
        assert mine.status_code == 200 and mine.json()["id"] == lesson["id"]

    # A classroom that is not invited is refused.
    stranger = await issue(admin, other_room)
    assert_problem(await exchange(anon, stranger["credential"], code), 403, "not_invited")
    assert_problem(await exchange(anon, stranger["credential"], None), 404, "no_live_lesson")

    # Bad credentials and bad bodies.
    assert_problem(await exchange(anon, credential + "x", code), 401, "credential_invalid")
    assert_problem(await exchange(anon, "dc_abc_def", code), 401, "credential_invalid")
    assert_problem(await exchange(anon, ADMIN_KEY, code), 401, "credential_invalid")
    assert_problem(await exchange(anon, credential, "no!"), 422, "validation_failed")
    assert_problem(await exchange(anon, credential, "ZZZZZZ"), 404)
    missing = await anon.post("/api/device/token", json={"lesson_code": code})
    assert_problem(missing, 401, "token_missing")
    # The credential opens only /api/device routes.
    assert_problem(await anon.get("/api/schools", headers=bearer(credential)), 401)


async def test_open_lesson_admits_any_classroom(admin: AdminApi, anon: httpx.AsyncClient) -> None:
    _, (room,) = await school_and_room(admin)
    lesson = await new_lesson(admin, [], open_to_all=True)  # said explicitly
    assert lesson["open_to_all"] is True
    await admin.post(f"/api/lessons/{lesson['id']}/start")
    credential = (await issue(admin, room))["credential"]
    got = await exchange(anon, credential, lesson["join_code"])
    assert got.status_code == 200, got.text


async def test_expired_and_forged_tokens(hub: InProcessHub, anon: httpx.AsyncClient) -> None:
    expired = TokenIssuer(JWT_SECRET, 600).issue(sub="staff-x", role=Role.STAFF, ttl_s=-5)
    assert_problem(await anon.get("/api/schools", headers=bearer(expired)), 401, "token_expired")
    forged = TokenIssuer("another-secret-0123456789abcdef-xyz", 600).issue(
        sub="staff-x", role=Role.STAFF
    )
    assert_problem(await anon.get("/api/schools", headers=bearer(forged)), 401, "token_invalid")
    assert_problem(await anon.get("/api/schools", headers=bearer("garbage")), 401)
    assert_problem(await anon.get("/api/schools"), 401, "token_missing")
    # Signed by the hub but bound to no issued-token row: not a staff token.
    unbound = TokenIssuer(JWT_SECRET, 600).issue(sub="staff-x", role=Role.STAFF)
    assert_problem(await anon.get("/api/schools", headers=bearer(unbound)), 401, "token_invalid")


async def test_revocation_refuses_exchange_token_and_closes_session(
    hub: InProcessHub, admin: AdminApi, anon: httpx.AsyncClient
) -> None:
    setup = await admin.lesson(classrooms=1)
    cred_id = int(setup.credentials[0].split("_")[1])
    token = await admin.device_token(setup.credentials[0], setup.code)
    ok = await anon.get(f"/api/lessons/by-code/{setup.code}", headers=bearer(token))
    assert ok.status_code == 200, ok.text

    client = LessonClient(hub.url, token)
    try:
        joined = await client.connect({})
        assert joined.lesson_id == setup.lesson_id
        assert client.closed is None

        revoked = await admin.http.delete(f"/api/device-credentials/{cred_id}")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_at"] is not None

        await eventually(lambda: client.closed is not None, timeout=10)
        assert_problem(
            await exchange(anon, setup.credentials[0], setup.code), 401, "credential_revoked"
        )
        refused = await anon.get(f"/api/lessons/by-code/{setup.code}", headers=bearer(token))
        assert_problem(refused, 401, "credential_revoked")
        assert_problem(
            await anon.get("/api/device/lessons", headers=bearer(setup.credentials[0])),
            401,
            "credential_revoked",
        )
        # Revoking twice keeps the first revocation time.
        again = await admin.http.delete(f"/api/device-credentials/{cred_id}")
        assert again.status_code == 200
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]

        # The room no longer lists the classroom.
        async def gone() -> bool:
            r = await admin.http.get(f"/api/lessons/{setup.lesson_id}/participants")
            return all(p["role"] != "classroom" for p in r.json())

        await eventually(gone, timeout=10)
    finally:
        await client.close()


async def test_deleting_a_classroom_revokes_its_credentials(
    admin: AdminApi, anon: httpx.AsyncClient
) -> None:
    setup = await admin.lesson(classrooms=1)
    token = await admin.device_token(setup.credentials[0], setup.code)
    await admin.post(f"/api/lessons/{setup.lesson_id}/end")
    deleted = await admin.http.delete(f"/api/classrooms/{setup.classroom_ids[0]}")
    assert deleted.status_code == 204, deleted.text
    assert_problem(await anon.get("/api/device/lessons", headers=bearer(setup.credentials[0])), 401)
    assert_problem(await anon.get(f"/api/lessons/by-code/{setup.code}", headers=bearer(token)), 401)


async def test_device_timetable_lists_live_first_and_drops_old_lessons(
    admin: AdminApi, anon: httpx.AsyncClient
) -> None:
    _, (room,) = await school_and_room(admin)
    later = await new_lesson(admin, [room], title="Later", start_in=timedelta(hours=5))
    soon = await new_lesson(admin, [room], title="Soon", start_in=timedelta(hours=1))
    live = await new_lesson(admin, [room], title="Live", start_in=timedelta(hours=3))
    await new_lesson(admin, [room], title="Old", start_in=timedelta(days=-3))
    await new_lesson(admin, [], title="Elsewhere")
    await admin.post(f"/api/lessons/{live['id']}/start")
    credential = (await issue(admin, room))["credential"]
    response = await anon.get("/api/device/lessons", headers=bearer(credential))
    assert response.status_code == 200, response.text
    ids = [x["id"] for x in response.json()["lessons"]]
    assert ids == [live["id"], soon["id"], later["id"]]
    assert response.json()["classroom_name"] == "Room 0"
    # With no code the exchange picks the classroom's live lesson.
    got = await exchange(anon, credential, None)
    assert got.status_code == 200 and got.json()["lesson_id"] == live["id"]


async def test_a_classroom_with_a_long_past_still_finds_its_live_lesson(
    admin: AdminApi, anon: httpx.AsyncClient
) -> None:
    # A school year of daily lessons: more past lessons than any one page of the timetable.
    _, (room,) = await school_and_room(admin)
    for day in range(201):
        await new_lesson(admin, [room], title=f"Day {day}", start_in=timedelta(days=-300 + day))
    live = await new_lesson(admin, [room], title="Today", start_in=timedelta(hours=1))
    await admin.post(f"/api/lessons/{live['id']}/start")
    credential = (await issue(admin, room))["credential"]
    response = await anon.get("/api/device/lessons", headers=bearer(credential))
    assert [x["id"] for x in response.json()["lessons"]] == [live["id"]]
    got = await exchange(anon, credential, None)
    assert got.status_code == 200 and got.json()["lesson_id"] == live["id"]


async def test_deleting_a_school_closes_its_classrooms_sessions(
    hub: InProcessHub, admin: AdminApi
) -> None:
    setup = await admin.lesson(classrooms=1)
    token = await admin.device_token(setup.credentials[0], setup.code)
    room = (await admin.http.get(f"/api/classrooms/{setup.classroom_ids[0]}")).json()
    client = LessonClient(hub.url, token)
    try:
        await client.connect({})
        deleted = await admin.http.delete(f"/api/schools/{room['school_id']}")
        assert deleted.status_code == 204, deleted.text
        await eventually(lambda: client.closed is not None, timeout=3)
    finally:
        await client.close()


async def test_inviting_a_classroom_to_a_live_lesson_lets_it_join(
    hub: InProcessHub, admin: AdminApi
) -> None:
    setup = await admin.lesson(classrooms=1)  # live, one classroom invited
    first = (await admin.http.get(f"/api/classrooms/{setup.classroom_ids[0]}")).json()
    late = await admin.post("/api/classrooms", {"name": "Late", "school_id": first["school_id"]})
    credential = (await issue(admin, late["id"]))["credential"]
    patched = await admin.http.patch(
        f"/api/lessons/{setup.lesson_id}",
        json={"classroom_ids": [first["id"], late["id"]]},
    )
    assert patched.status_code == 200, patched.text
    token = await admin.device_token(credential, setup.code)  # the API says it is invited
    client = LessonClient(hub.url, token)
    try:
        joined = await client.connect({})
        assert joined.lesson_id == setup.lesson_id
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        # Ids beyond 64 bits are refused by validation before they reach the database.
        ("GET", f"/api/schools/{10**25}", None, 422),
        ("GET", f"/api/lessons/{10**25}/attendance", None, 422),
        ("POST", "/api/classrooms", {"name": "R", "school_id": 10**25}, 422),
        ("GET", f"/api/schools?offset={10**25}", None, 422),
        # So are ids beyond the catalog's: its ids are 32-bit in PostgreSQL, where asking for
        # a larger one is an error rather than a miss.
        ("GET", f"/api/schools/{2**31}", None, 422),
        ("GET", f"/api/lessons?classroom_id={2**40}", None, 422),
        ("GET", f"/api/recordings?classroom_id={2**31}", None, 422),
        ("PATCH", f"/api/classrooms/{2**33}", {"name": "R"}, 422),
        ("POST", "/api/classrooms", {"name": "R", "school_id": 2**31}, 422),
        ("POST", "/api/lessons", {"title": "T", "scheduled_start": START,
                                  "scheduled_end": END, "classroom_ids": [2**31]}, 422),
        ("GET", f"/api/recordings/{2**40}", None, 404),
        # PostgreSQL's text cannot hold NUL: refused up front, or (a join code) found nowhere.
        ("POST", "/api/schools", {"name": "North\x00"}, 422),
        ("POST", "/api/schools", {"name": "North", "region": "\x00"}, 422),
        ("GET", "/api/recordings?q=a%00b", None, 422),
        ("GET", "/api/recordings?lecturer=%00", None, 422),
        ("GET", "/api/lessons/by-code/AB%00CD", None, 404),
        # The catalog compares instants: a time without a zone is refused, not a server error.
        ("GET", "/api/recordings?date_from=2026-11-01T00:00:00", None, 422),
    ],
)  # fmt: skip
@SHARED
async def test_huge_ids_are_not_server_errors(
    shared_admin: AdminApi, method: str, path: str, body: Any, status: int
) -> None:
    response = await shared_admin.http.request(method, path, json=body)
    assert response.status_code < 500, response.text
    assert_problem(response, status)


async def test_huge_credential_id_is_401(anon: httpx.AsyncClient) -> None:
    for ident in (10**25, 2**31, 10**17):
        response = await anon.get("/api/device/lessons", headers=bearer(f"dc_{ident}_secret"))
        assert_problem(response, 401, "credential_invalid")


@SHARED
async def test_offsets_beyond_32_bits_are_empty_pages(shared_admin: AdminApi) -> None:
    response = await shared_admin.http.get(f"/api/schools?offset={2**62}")
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [] and response.json()["total"] >= 1


# ---------------------------------------------------------------- live lesson, attendance


async def test_participants_while_live_and_attendance_after_end(
    hub: InProcessHub, admin: AdminApi
) -> None:
    setup = await admin.lesson(classrooms=2)
    lid = setup.lesson_id
    # A room name as long as names go: longer than a participant's name (its token, its
    # attendance row), which PostgreSQL enforces.
    long_name = "初二（3）班" * 33 + "班班"
    assert len(long_name) == 200
    renamed = await admin.http.patch(
        f"/api/classrooms/{setup.classroom_ids[0]}", json={"name": long_name}
    )
    assert renamed.status_code == 200, renamed.text
    token = await admin.device_token(setup.credentials[0], setup.code)
    client = LessonClient(hub.url, token)
    try:
        await client.connect({})

        async def listed() -> list[Any]:
            response = await admin.http.get(f"/api/lessons/{lid}/participants")
            assert response.status_code == 200, response.text
            rooms = [p for p in response.json() if p["role"] == "classroom"]
            assert rooms, response.json()
            return rooms

        rooms = await eventually(listed, timeout=10)
        assert [p["classroom_id"] for p in rooms] == [setup.classroom_ids[0]]
        assert rooms[0]["name"] == long_name[:120]

        ended = await admin.http.post(f"/api/lessons/{lid}/end")
        assert ended.status_code == 200 and ended.json()["status"] == "ended"
        await eventually(lambda: client.closed is not None, timeout=10)
    finally:
        await client.close()

    after = await admin.http.get(f"/api/lessons/{lid}/participants")
    assert after.status_code == 200 and after.json() == []

    response = await admin.http.get(f"/api/lessons/{lid}/attendance")
    assert response.status_code == 200, response.text
    rows = [r for r in response.json() if r["role"] == "classroom"]
    assert len(rows) == 1, response.json()
    row = rows[0]
    assert row["classroom_id"] == setup.classroom_ids[0]
    assert row["name"] == long_name[:120]
    assert row["joined_at"] and row["left_at"]
    assert row["left_at"] >= row["joined_at"]
    assert row["duration_s"] is not None and 0 <= row["duration_s"] < 60
    # The invited classroom that never joined is not in the attendance.
    assert setup.classroom_ids[1] not in {r["classroom_id"] for r in response.json()}

    # Staff may read attendance; the lecturer of the lesson too.
    staff = (await admin.post("/api/tokens/staff"))["token"]
    for who in (staff, setup.lecturer_token):
        seen = await admin.http.get(f"/api/lessons/{lid}/attendance", headers=bearer(who))
        assert seen.status_code == 200 and seen.json() == response.json()


# ---------------------------------------------------------------- lecturer and other tokens


async def test_lecturer_link_manages_only_its_lesson(
    hub: InProcessHub, admin: AdminApi, anon: httpx.AsyncClient
) -> None:
    a = await new_lesson(admin, [], title="A")
    b = await new_lesson(admin, [], title="B")
    link = await admin.post(f"/api/lessons/{a['id']}/lecturer-link")
    assert f"/lesson/{a['join_code']}#token=" in link["url"]
    assert link["url"].startswith(hub.settings.effective_public_url)
    assert link["url"].endswith(link["token"])
    assert link["expires_in_s"] == hub.settings.auth.lecturer_link_ttl_s
    grant = hub.services.tokens.verify(link["token"])
    assert grant.role is Role.LECTURER and grant.lesson == a["id"] and grant.can_publish

    mine = bearer(link["token"])
    assert_problem(await anon.post(f"/api/lessons/{b['id']}/start", headers=mine), 403)
    assert_problem(await anon.get(f"/api/lessons/{b['id']}", headers=mine), 403)
    assert_problem(
        await anon.get(f"/api/lessons/by-code/{b['join_code']}", headers=mine), 403, "wrong_lesson"
    )
    started = await anon.post(f"/api/lessons/{a['id']}/start", headers=mine)
    assert started.status_code == 200 and started.json()["status"] == "live"
    await admin.post(f"/api/lessons/{b['id']}/start")
    assert_problem(await anon.post(f"/api/lessons/{b['id']}/end", headers=mine), 403)
    assert (await admin.http.get(f"/api/lessons/{b['id']}")).json()["status"] == "live"
    ended = await anon.post(f"/api/lessons/{a['id']}/end", headers=mine)
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    # A lecturer cannot administer the catalog or mint links.
    assert_problem(await anon.get("/api/schools", headers=mine), 403)
    assert_problem(await anon.post(f"/api/lessons/{a['id']}/lecturer-link", headers=mine), 403)


async def test_recorder_and_staff_tokens(hub: InProcessHub, admin: AdminApi) -> None:
    lesson = await new_lesson(admin, [])
    recorder = await admin.post(f"/api/lessons/{lesson['id']}/recorder-token")
    grant = hub.services.tokens.verify(recorder["token"])
    assert grant.role is Role.RECORDER and grant.lesson == lesson["id"] and grant.hidden
    assert grant.can_subscribe and not grant.can_publish
    staff = await admin.post("/api/tokens/staff")
    sgrant = hub.services.tokens.verify(staff["token"])
    assert sgrant.role is Role.STAFF and sgrant.lesson is None
    assert staff["expires_in_s"] == hub.settings.auth.access_token_ttl_s
    h = bearer(staff["token"])
    assert (await admin.http.get("/api/lessons", headers=h)).status_code == 200
    assert_problem(await admin.http.post("/api/schools", json={"name": "x"}, headers=h), 403)


# ---------------------------------------------------------------- health


async def test_health_and_readiness(anon: httpx.AsyncClient) -> None:
    health = await anon.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = await anon.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"catalog": "ok"}}
