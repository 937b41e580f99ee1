"""People's accounts against a real in-process hub (docs/roles.md): signing in with a password
or a one-time link, what a disabled account, a new role or a new password does to a session
already open, and how a school admin is kept to their own school."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import update

from streamhub.auth.passwords import Passwords
from streamhub.catalog.models import SignInLink, utcnow
from streamhub.errors import Unauthorized
from tests.auth.test_passwords import FAST
from tests.support.hub import AdminApi, HubFactory, InProcessHub

PROBLEM = "application/problem+json"
PASSWORD = "a long enough password"
SHARED = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(make_module_hub: HubFactory) -> InProcessHub:
    hub = await make_module_hub(
        recorder={"enabled": False}, auth={"sign_in_failures": 3, "sign_in_window_s": 600}
    )
    # argon2id with small parameters: the same code paths, a fraction of the time
    # (tests/auth/test_passwords.py covers the real parameters).
    hub.services.passwords = Passwords(FAST)
    return hub


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(hub: InProcessHub) -> AsyncIterator[AdminApi]:
    api = AdminApi(hub.url)
    yield api
    await api.close()


@pytest_asyncio.fixture(loop_scope="module")
async def http(hub: InProcessHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login() -> str:
    return f"Person.{secrets.token_hex(4)}@School.cn"


async def add(admin: AdminApi, **body: Any) -> dict[str, Any]:
    return await admin.post("/api/accounts", {"login": login(), **body})  # type: ignore[no-any-return]


async def sign_in(http: httpx.AsyncClient, who: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post("/api/session", json={"login": who, "password": password})


def refused(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    if code is not None:
        assert response.json()["code"] == code, response.text


@SHARED
async def test_password_sign_in_gives_a_session_and_says_who(
    hub: InProcessHub, admin: AdminApi, http: httpx.AsyncClient
) -> None:
    made = await add(admin, role="staff", display_name="Wang", password=PASSWORD)
    assert made["login"] == made["login"].lower() and made["has_password"]
    assert "password" not in made and "password_hash" not in made
    # Any spelling of the login; the password exactly.
    answer = await sign_in(http, f"  {made['login'].upper()} ")
    assert answer.status_code == 200, answer.text
    session = answer.json()
    assert session["account"]["id"] == made["id"]
    assert PASSWORD not in answer.text
    me = (await http.get("/api/me", headers=bearer(session["token"]))).json()
    assert me["kind"] == "account" and me["role"] == "staff"
    assert me["account"]["last_sign_in_at"] is not None
    # A staff session reads the library, changes nothing.
    h = bearer(session["token"])
    assert (await http.get("/api/recordings", headers=h)).status_code == 200
    refused(await http.post("/api/schools", json={"name": "X"}, headers=h), 403)
    # A session never passes as a lesson grant (what the signaling WebSocket and WHIP take).
    with pytest.raises(Unauthorized):
        hub.services.tokens.verify(session["token"])


@SHARED
async def test_wrong_password_and_unknown_login_get_one_answer(
    admin: AdminApi, http: httpx.AsyncClient
) -> None:
    made = await add(admin, role="lecturer", password=PASSWORD)
    wrong = await sign_in(http, made["login"], "not the password")
    unknown = await sign_in(http, login(), "not the password")
    links_only = await sign_in(http, (await add(admin, role="staff"))["login"], "")
    for answer in (wrong, unknown, links_only):
        refused(answer, 401, "sign_in_failed")
        assert answer.json()["detail"] == wrong.json()["detail"]
        assert answer.headers["www-authenticate"] == "Bearer"
    # The fourth failure of this address for this login waits, right password or not.
    for _ in range(2):
        refused(await sign_in(http, made["login"], "still wrong"), 401)
    refused(await sign_in(http, made["login"]), 429, "rate_limited")


@SHARED
async def test_a_sign_in_link_works_once_and_not_after_it_expires(
    hub: InProcessHub, admin: AdminApi, http: httpx.AsyncClient
) -> None:
    made = await add(admin, role="lecturer")  # no password: links only
    link = await admin.post(f"/api/accounts/{made['id']}/sign-in-link")
    assert link["link"].endswith(f"/admin#signin={link['secret']}")
    assert link["expires_in_s"] == 900
    first = await http.post("/api/session/link", json={"secret": link["secret"]})
    assert first.status_code == 200, first.text
    assert first.json()["account"]["id"] == made["id"]
    refused(await http.post("/api/session/link", json={"secret": link["secret"]}), 401)
    # A forged secret for a real link, and a made-up link.
    other = await admin.post(f"/api/accounts/{made['id']}/sign-in-link")
    forged = other["secret"].rsplit("_", 1)[0] + "_" + secrets.token_urlsafe(32)
    for bad in (forged, "sl_999999_x", "nonsense"):
        refused(await http.post("/api/session/link", json={"secret": bad}), 401, "sign_in_failed")
    # Expired (moved into the past in the catalog): refused, and the link stays unused.
    async with hub.services.catalog.session() as session, session.begin():
        await session.execute(update(SignInLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    refused(await http.post("/api/session/link", json={"secret": other["secret"]}), 401)


@SHARED
async def test_disabling_changing_role_and_new_password_count_from_the_next_request(
    admin: AdminApi, http: httpx.AsyncClient
) -> None:
    school = await admin.post("/api/schools", {"name": "Hill School"})
    made = await add(admin, role="staff", password=PASSWORD)
    token = (await sign_in(http, made["login"])).json()["token"]
    h = bearer(token)
    assert (await http.get("/api/lessons", headers=h)).status_code == 200
    # A new role: a school admin now, with their school's powers and no more.
    await admin.http.patch(
        f"/api/accounts/{made['id']}", json={"role": "school_admin", "school_id": school["id"]}
    )
    assert (await http.get("/api/me", headers=h)).json()["role"] == "school_admin"
    listed = (await http.get("/api/schools", headers=h)).json()
    assert [s["id"] for s in listed["items"]] == [school["id"]]
    # Disabled: refused at once; enabled again: the same session works.
    await admin.http.patch(f"/api/accounts/{made['id']}", json={"disabled": True})
    refused(await http.get("/api/me", headers=h), 401, "account_disabled")
    refused(await sign_in(http, made["login"]), 401, "account_disabled")
    await admin.http.patch(f"/api/accounts/{made['id']}", json={"disabled": False})
    assert (await http.get("/api/me", headers=h)).status_code == 200
    # A new password (set by the person) ends the sessions before it.
    too_short = await http.put("/api/me/password", json={"password": "short"}, headers=h)
    refused(too_short, 422, "validation_failed")
    assert "short" not in too_short.text
    changed = await http.put("/api/me/password", json={"password": "another long one"}, headers=h)
    assert changed.status_code == 204
    refused(await http.get("/api/me", headers=h), 401, "token_stale")
    assert (await sign_in(http, made["login"], "another long one")).status_code == 200
    # Deleted: refused.
    fresh = (await sign_in(http, made["login"], "another long one")).json()["token"]
    assert (await admin.http.delete(f"/api/accounts/{made['id']}")).status_code == 204
    refused(await http.get("/api/me", headers=bearer(fresh)), 401, "token_stale")


@SHARED
async def test_a_school_admin_manages_their_school_only(
    admin: AdminApi, http: httpx.AsyncClient
) -> None:
    a = await admin.post("/api/schools", {"name": "School A"})
    b = await admin.post("/api/schools", {"name": "School B"})
    room_b = await admin.post("/api/classrooms", {"name": "B1", "school_id": b["id"]})
    boss = await add(admin, role="school_admin", school_id=a["id"], password=PASSWORD)
    h = bearer((await sign_in(http, boss["login"])).json()["token"])
    # Their own classroom and lesson, in their school without saying so.
    room = await http.post("/api/classrooms", json={"name": "A1", "school_id": a["id"]}, headers=h)
    assert room.status_code == 201, room.text
    lesson_body = {
        "title": "Algebra",
        "scheduled_start": "2030-01-01T08:00:00Z",
        "scheduled_end": "2030-01-01T09:00:00Z",
        "classroom_ids": [room.json()["id"]],
    }
    lesson = await http.post("/api/lessons", json=lesson_body, headers=h)
    assert lesson.status_code == 201, lesson.text
    assert lesson.json()["school_id"] == a["id"]
    # Not school B's classrooms, not in their lessons, not on the fleet board.
    invite_b = {**lesson_body, "classroom_ids": [room_b["id"]]}
    refused(await http.post("/api/lessons", json=invite_b, headers=h), 403)
    refused(await http.get(f"/api/classrooms/{room_b['id']}", headers=h), 403)
    refused(await http.get("/api/fleet", params={"school_id": b["id"]}, headers=h), 403)
    fleet = (await http.get("/api/fleet", headers=h)).json()
    assert {r["school_id"] for r in fleet["classrooms"]} == {a["id"]}
    listed = (await http.get("/api/classrooms", headers=h)).json()
    assert {c["school_id"] for c in listed["items"]} == {a["id"]}
    # People: lecturers and staff of their school; not admins, not other schools.
    lecturer = await http.post(
        "/api/accounts", json={"login": login(), "role": "lecturer"}, headers=h
    )
    assert lecturer.status_code == 201 and lecturer.json()["school_id"] == a["id"]
    for body in (
        {"login": login(), "role": "school_admin"},
        {"login": login(), "role": "county_admin"},
        {"login": login(), "role": "staff", "school_id": b["id"]},
    ):
        refused(await http.post("/api/accounts", json=body, headers=h), 403)
    promote = {"role": "school_admin"}
    path = f"/api/accounts/{lecturer.json()['id']}"
    refused(await http.patch(path, json=promote, headers=h), 403)
    listed_people = (await http.get("/api/accounts", headers=h)).json()["items"]
    assert {p["school_id"] for p in listed_people} == {a["id"]}


@SHARED
async def test_a_lecturer_account_runs_its_own_lessons(
    admin: AdminApi, http: httpx.AsyncClient
) -> None:
    school = await admin.post("/api/schools", {"name": "City School"})
    me = await add(admin, role="lecturer", password=PASSWORD)
    other = await add(admin, role="lecturer")
    base = {"scheduled_start": "2030-01-01T08:00:00Z", "scheduled_end": "2030-01-01T09:00:00Z"}
    mine = await admin.post(
        "/api/lessons",
        {**base, "title": "Mine", "school_id": school["id"], "lecturer_account_id": me["id"]},
    )
    theirs = await admin.post(
        "/api/lessons", {**base, "title": "Theirs", "lecturer_account_id": other["id"]}
    )
    h = bearer((await sign_in(http, me["login"])).json()["token"])
    listed = (await http.get("/api/lessons", headers=h)).json()
    assert [x["id"] for x in listed["items"]] == [mine["id"]]
    link = await http.post(f"/api/lessons/{mine['id']}/lecturer-link", headers=h)
    assert link.status_code == 200 and "#token=" in link.json()["url"]
    refused(await http.post(f"/api/lessons/{theirs['id']}/lecturer-link", headers=h), 403)
    refused(await http.get(f"/api/lessons/{theirs['id']}", headers=h), 403)
    refused(await http.patch(f"/api/lessons/{mine['id']}", json={"title": "X"}, headers=h), 403)
    assert (await http.post(f"/api/lessons/{mine['id']}/start", headers=h)).status_code == 200
    # Only a lecturer account teaches: another role is refused as a lesson's lecturer.
    staff = await add(admin, role="staff")
    wrong = await admin.http.patch(
        f"/api/lessons/{theirs['id']}", json={"lecturer_account_id": staff["id"]}
    )
    refused(wrong, 400, "validation_failed")
