"""Every /api route against every kind of caller, against a real in-process hub.

The table below says, per route, which callers are let through. Everyone else gets 401 (no,
bad or expired credentials; a device credential outside /api/device; a token on a device
route) or 403 (a valid token of the wrong role or lesson, a person whose role or school does
not reach the object). A route added to the app without a row here fails
``test_table_names_every_api_route``.

People (docs/roles.md): a county admin, the admin of the school that owns every object below,
the admin of another school (on this school's objects), the lecturer account lesson A belongs
to, and a staff account.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from fastapi.routing import APIRoute

from streamhub.auth.passwords import Passwords
from streamhub.auth.roles import AccountRole
from streamhub.auth.tokens import TokenIssuer
from streamhub.catalog.models import MAX_ID
from streamhub.protocol import Role
from tests.auth.test_passwords import FAST
from tests.support.hub import ADMIN_KEY, JWT_SECRET, AdminApi, InProcessHub, hub_factory
from tests.support.net import free_port
from tests.support.postgres import DATABASES, fresh_database

PROBLEM = "application/problem+json"

# Callers. "lecturer", "classroom" and "recorder" hold tokens of lesson A, the lesson every
# {lesson_id} and {code} below names; "*_other" hold the same kinds of token for lesson B.
NONE, GARBAGE, EXPIRED, DEVICE, TICKET = "none", "garbage", "expired", "device", "ticket"
ADMIN, STAFF, LECTURER, CLASSROOM, RECORDER = "admin", "staff", "lecturer", "classroom", "recorder"
LECTURER_OTHER, CLASSROOM_OTHER = "lecturer_other", "classroom_other"
COUNTY, SCHOOL_ADMIN, SCHOOL_ADMIN_B = "county_admin", "school_admin", "school_admin_b"
LECTURER_ACCOUNT, STAFF_ACCOUNT = "lecturer_account", "staff_account"
ACCOUNTS = (COUNTY, SCHOOL_ADMIN, SCHOOL_ADMIN_B, LECTURER_ACCOUNT, STAFF_ACCOUNT)
PASSWORD = "a long enough password"
CALLERS = (
    NONE,
    GARBAGE,
    EXPIRED,
    ADMIN,
    STAFF,
    LECTURER,
    CLASSROOM,
    RECORDER,
    DEVICE,
    TICKET,  # a recording's media ticket, sent as a Bearer token (its audience forbids that)
    LECTURER_OTHER,
    CLASSROOM_OTHER,
    *ACCOUNTS,
)
JWT_CALLERS = {STAFF, LECTURER, CLASSROOM, RECORDER, LECTURER_OTHER, CLASSROOM_OTHER, *ACCOUNTS}


@dataclass
class World:
    """Real objects in the hub and a credential of every kind of caller."""

    hub: InProcessHub
    admin: AdminApi
    school_id: int
    classroom_id: int
    credential_id: int
    lesson_id: int  # lesson A: live, classroom invited
    code: str
    lesson_b: int
    recording_id: int  # a ready recording of lesson A, with its files on disk
    capsule_id: int  # a capsule cut from it, with its files on disk
    staff_account_id: int  # a staff account of the school
    login: str  # the staff account's login (its password is PASSWORD)
    auth: dict[str, str | None] = field(default_factory=dict)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.admin.post(path, body)


def soon(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def lesson_body(classroom_ids: list[int], title: str = "Lesson") -> dict[str, Any]:
    return {
        "title": title,
        "lecturer_name": "Ms Li",
        "scheduled_start": soon(1),
        "scheduled_end": soon(2),
        "classroom_ids": classroom_ids,
    }


async def ready_recording(hub: InProcessHub, lesson_id: int) -> int:
    """A finished recording as the recorder leaves it: catalog row and files."""
    catalog = hub.services.catalog
    directory = f"rec-{secrets.token_hex(4)}"
    root = hub.settings.effective_recordings_dir / directory
    root.mkdir(parents=True)
    for name in ("lesson.mp4", "screen.mp4", "stage.mp4", "poster.jpg", "thumb-000.jpg"):
        (root / name).write_bytes(b"\x00" * 64)
    manifest = {"duration_s": 1.0, "thumbnails": [{"index": 0, "t": 0.0}]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    rec = await catalog.create_recording(lesson_id, directory)
    await catalog.update_recording(
        rec.id, state="ready", has_screen=True, duration_s=1.0, size_bytes=64, progress=1.0
    )
    return int(rec.id)


async def ready_capsule(hub: InProcessHub, recording_id: int) -> int:
    """A capsule as a cut leaves it (cut by the admin key: no account made it)."""
    catalog = hub.services.catalog
    rec = await catalog.get_recording(recording_id)
    directory = f"capsules/capsule-{secrets.token_hex(4)}"
    root = hub.settings.effective_recordings_dir / directory
    root.mkdir(parents=True)
    for name in ("clip.mp4", "poster.jpg", "thumb.jpg"):
        (root / name).write_bytes(b"\x00" * 64)
    capsule = await catalog.create_capsule(
        ["common mistake"],
        recording_id=rec.id,
        lesson_id=rec.lesson_id,
        school_id=rec.lesson.school_id,
        lecturer_account_id=rec.lesson.lecturer_account_id,
        title="Capsule",
        start_s=0.0,
        end_s=1.0,
        requested_start_s=0.0,
        duration_s=1.0,
        directory=directory,
        has_poster=True,
    )
    return int(capsule.id)


async def people(hub: InProcessHub, school_id: int) -> dict[str, Any]:
    """An account of every role, written straight to the catalog (no hashing but the staff
    account's), and a session token for each."""
    catalog, tokens = hub.services.catalog, hub.services.tokens
    other = await catalog.create_school(f"Other {secrets.token_hex(3)}")
    specs = {
        COUNTY: (AccountRole.COUNTY_ADMIN, None),
        SCHOOL_ADMIN: (AccountRole.SCHOOL_ADMIN, school_id),
        SCHOOL_ADMIN_B: (AccountRole.SCHOOL_ADMIN, other.id),
        LECTURER_ACCOUNT: (AccountRole.LECTURER, None),
        STAFF_ACCOUNT: (AccountRole.STAFF, school_id),
    }
    made: dict[str, Any] = {}
    for name, (role, school) in specs.items():
        hashed = await hub.services.passwords.hash(PASSWORD) if name == STAFF_ACCOUNT else None
        row = await catalog.create_account(
            login=f"{name}-{secrets.token_hex(4)}@county.cn",
            role=role,
            school_id=school,
            password_hash=hashed,
        )
        made[name] = row
        made[f"{name}_token"] = tokens.issue_session(row.id, row.session_key, 600)
    return made


async def build_world(hub: InProcessHub, admin: AdminApi) -> World:
    school = await admin.post("/api/schools", {"name": f"School {secrets.token_hex(3)}"})
    room_a = await admin.post("/api/classrooms", {"name": "Room A", "school_id": school["id"]})
    room_b = await admin.post("/api/classrooms", {"name": "Room B", "school_id": school["id"]})
    cred_a = await admin.post(f"/api/classrooms/{room_a['id']}/device-credential")
    cred_b = await admin.post(f"/api/classrooms/{room_b['id']}/device-credential")
    persons = await people(hub, school["id"])
    owners = {"school_id": school["id"], "lecturer_account_id": persons[LECTURER_ACCOUNT].id}
    lesson_a = await admin.post("/api/lessons", {**lesson_body([room_a["id"]], "A"), **owners})
    lesson_b = await admin.post("/api/lessons", lesson_body([room_b["id"]], "B"))
    for lesson in (lesson_a, lesson_b):
        await admin.post(f"/api/lessons/{lesson['id']}/start")
    expired = TokenIssuer(JWT_SECRET, 600).issue(
        sub=f"lecturer-{lesson_a['id']}",
        role=Role.LECTURER,
        lesson=lesson_a["id"],
        can_publish=True,
        ttl_s=-5,
    )
    auth: dict[str, str | None] = {
        NONE: None,
        GARBAGE: "garbage.not-a.token",
        EXPIRED: expired,
        ADMIN: ADMIN_KEY,
        STAFF: (await admin.post("/api/tokens/staff"))["token"],
        LECTURER: (await admin.post(f"/api/lessons/{lesson_a['id']}/lecturer-link"))["token"],
        CLASSROOM: await admin.device_token(cred_a["credential"], lesson_a["join_code"]),
        RECORDER: (await admin.post(f"/api/lessons/{lesson_a['id']}/recorder-token"))["token"],
        DEVICE: cred_a["credential"],
        TICKET: None,  # below, once the recording exists
        LECTURER_OTHER: (await admin.post(f"/api/lessons/{lesson_b['id']}/lecturer-link"))["token"],
        CLASSROOM_OTHER: await admin.device_token(cred_b["credential"], lesson_b["join_code"]),
        **{name: persons[f"{name}_token"] for name in ACCOUNTS},
    }
    recording_id = await ready_recording(hub, lesson_a["id"])
    capsule_id = await ready_capsule(hub, recording_id)
    row_key = (await hub.services.catalog.get_recording(recording_id)).row_key
    auth[TICKET] = hub.services.tokens.issue_ticket(recording_id, row_key, 600)
    assert set(auth) == set(CALLERS)
    return World(
        hub=hub,
        admin=admin,
        school_id=school["id"],
        classroom_id=room_a["id"],
        credential_id=cred_a["credential_id"],
        lesson_id=lesson_a["id"],
        code=lesson_a["join_code"],
        lesson_b=lesson_b["id"],
        recording_id=recording_id,
        capsule_id=capsule_id,
        staff_account_id=persons[STAFF_ACCOUNT].id,
        login=persons[STAFF_ACCOUNT].login,
        auth=auth,
    )


# What a case needs: the concrete path (throwaway objects may be created for it), and after a
# refused call, a check that nothing changed.
PathFn = Callable[[World], Awaitable[str]]
Check = Callable[[World, str], Awaitable[None]]


def fixed(template: str) -> PathFn:
    async def path(w: World) -> str:
        return template.format(
            school_id=w.school_id,
            classroom_id=w.classroom_id,
            lesson_id=w.lesson_id,
            code=w.code,
            credential_id=w.credential_id,
            recording_id=w.recording_id,
            capsule_id=w.capsule_id,
            account_id=w.staff_account_id,
        )

    return path


async def throwaway_school(w: World) -> str:
    school = await w.post("/api/schools", {"name": "Throwaway"})
    return f"/api/schools/{school['id']}"


async def throwaway_classroom(w: World) -> str:
    room = await w.post("/api/classrooms", {"name": "Throwaway", "school_id": w.school_id})
    return f"/api/classrooms/{room['id']}"


async def throwaway_credential(w: World) -> str:
    issued = await w.post(f"/api/classrooms/{w.classroom_id}/device-credential")
    return f"/api/device-credentials/{issued['credential_id']}"


async def throwaway_lesson(w: World) -> str:
    body = {**lesson_body([w.classroom_id], "Throwaway"), "school_id": w.school_id}
    lesson = await w.post("/api/lessons", body)
    return f"/api/lessons/{lesson['id']}"


async def throwaway_link(w: World) -> str:
    link = await w.post(f"/api/lessons/{w.lesson_id}/lecturer-link")
    return f"/api/tokens/{link['token_id']}"


async def link_still_active(w: World, path: str) -> None:
    token_id = int(path.rsplit("/", 1)[1])
    listed = (await w.admin.http.get("/api/tokens", params={"lesson_id": w.lesson_id})).json()
    assert any(t["id"] == token_id for t in listed), (token_id, listed)


async def throwaway_account(w: World) -> str:
    body = {"login": f"gone-{secrets.token_hex(4)}", "role": "lecturer", "school_id": w.school_id}
    return f"/api/accounts/{(await w.post('/api/accounts', body))['id']}"


def new_account(w: World) -> dict[str, Any]:
    return {"login": f"new-{secrets.token_hex(4)}", "role": "staff", "school_id": w.school_id}


async def throwaway_recording(w: World) -> str:
    return f"/api/recordings/{await ready_recording(w.hub, w.lesson_id)}"


async def throwaway_capsule(w: World) -> str:
    return f"/api/capsules/{await ready_capsule(w.hub, w.recording_id)}"


def capsule_body(w: World) -> dict[str, Any]:
    # Past the recording's end (1 s): a caller let through gets 400 before any cutting.
    return {"recording_id": w.recording_id, "start_s": 0.0, "end_s": 5.0, "title": "Cut"}


def watched_body(w: World) -> dict[str, Any]:
    return {"recording_id": w.recording_id, "session": "ab" * 8, "ranges": [[0.0, 0.5]]}


def unique_name(_w: World) -> dict[str, str]:
    return {"name": f"Name {secrets.token_hex(4)}"}


def throwaway_entry(plural: str) -> PathFn:
    async def path(w: World) -> str:
        made = await w.post(f"/api/{plural}", unique_name(w))
        return f"/api/{plural}/{made['id']}"

    return path


def entry_not_retired(plural: str) -> Check:
    async def check(w: World, path: str) -> None:
        listed = (await w.admin.http.get(f"/api/{plural}")).json()
        row = next(x for x in listed if x["id"] == int(path.rsplit("/", 1)[1]))
        assert not row["retired"], row

    return check


SERIES = {
    "title": "Series",
    "first_start": "2030-09-02T08:00:00",
    "duration_minutes": 45,
    "rule": "FREQ=WEEKLY;COUNT=2",
}


async def throwaway_series(w: World) -> str:
    made = await w.post("/api/lessons/series", SERIES)
    return f"/api/lessons/series/{made['series']}"


async def series_still_there(w: World, path: str) -> None:
    series = path.rsplit("/", 1)[1]
    listed = (await w.admin.http.get("/api/lessons", params={"series": series})).json()
    assert listed["total"] == 2, listed


async def throwaway_webhook(w: World) -> str:
    hook = await w.post("/api/webhooks", {"url": "http://127.0.0.1:9/hook"})
    return f"/api/webhooks/{hook['id']}"


async def webhook_deliveries(w: World) -> str:
    return f"{await throwaway_webhook(w)}/deliveries"


async def webhook_still_there(w: World, path: str) -> None:
    hooks = (await w.admin.http.get("/api/webhooks")).json()
    assert int(path.rsplit("/", 1)[1]) in {h["id"] for h in hooks}, path


async def throwaway_feed(w: World) -> str:
    feed = await w.post("/api/calendar-feeds", {"kind": "lecturer", "lecturer": "Ms Li"})
    return f"/api/calendar-feeds/{feed['id']}"


async def feed_still_there(w: World, path: str) -> None:
    feeds = (await w.admin.http.get("/api/calendar-feeds")).json()
    assert int(path.rsplit("/", 1)[1]) in {f["id"] for f in feeds}, path


async def throwaway_policy(w: World) -> str:
    # A school of its own each time: one policy per school and subject.
    school = await w.hub.services.catalog.create_school(f"Policy {secrets.token_hex(3)}")
    policy = await w.hub.services.catalog.add_policy(school.id, None, 30_000)
    return f"/api/retention/policies/{policy.id}"


async def policy_still_there(w: World, path: str) -> None:
    listed = (await w.admin.http.get("/api/retention/policies")).json()
    assert int(path.rsplit("/", 1)[1]) in {p["id"] for p in listed}, path


async def still_there(w: World, path: str) -> None:
    response = await w.admin.http.get(path)
    assert response.status_code == 200, (path, response.status_code)


async def credential_still_active(w: World, path: str) -> None:
    credential_id = int(path.rsplit("/", 1)[1])
    listed = (await w.admin.http.get(f"/api/classrooms/{w.classroom_id}/device-credentials")).json()
    row = next(c for c in listed if c["id"] == credential_id)
    assert row["revoked_at"] is None, row


async def lesson_still_live(w: World, path: str) -> None:
    lesson = (await w.admin.http.get(f"/api/lessons/{w.lesson_id}")).json()
    assert lesson["status"] == "live", lesson


@dataclass(frozen=True)
class Row:
    allowed: frozenset[str]  # callers let through
    status: int  # what an allowed caller gets
    path: PathFn
    body: Any = None  # JSON body, or a function of the world giving it
    device_route: bool = False  # authenticated by a device credential, not a token
    # The call changes lesson A: a new world after every caller it lets through (a refused
    # call changes nothing, which check_refused verifies).
    fresh_world: bool = False
    public: bool = False  # open to anyone: every caller gets ``status``
    check_refused: Check | None = None


def row(
    allowed: set[str],
    status: int,
    path: str | PathFn,
    body: Any = None,
    **kw: Any,
) -> Row:
    assert allowed <= set(CALLERS)
    return Row(
        frozenset(allowed), status, fixed(path) if isinstance(path, str) else path, body, **kw
    )


ADMIN_ONLY = {ADMIN, COUNTY}  # the county: the admin key and county admins
ADMINS = {*ADMIN_ONLY, SCHOOL_ADMIN}  # plus the admin of the school that owns the object
ADMIN_STAFF = {*ADMIN_ONLY, STAFF, STAFF_ACCOUNT}
# Lists every school admin may read (each sees their own school's part of it).
SCHOOL_LISTS = {*ADMIN_STAFF, SCHOOL_ADMIN, SCHOOL_ADMIN_B}
# Lesson A's owners: its lecturer link, its school's admin and its lecturer's account.
MANAGERS = {*ADMIN_ONLY, LECTURER, SCHOOL_ADMIN, LECTURER_ACCOUNT}
VIEWERS = {*MANAGERS, STAFF, STAFF_ACCOUNT}  # plus staff, who see every lesson
LIBRARY = {*ADMIN_STAFF, SCHOOL_ADMIN, LECTURER_ACCOUNT}  # lesson A's recordings
TOKEN_HOLDERS = {ADMIN, *JWT_CALLERS}
PUBLIC = set(CALLERS)

TABLE: dict[str, Row] = {
    # people: signing in is open to anyone (the login is the staff account's)
    "POST /api/session": row(
        PUBLIC, 200, "/api/session", lambda w: {"login": w.login, "password": PASSWORD}, public=True
    ),
    "POST /api/session/link": row(
        PUBLIC, 401, "/api/session/link", {"secret": "sl_1_not-a-secret"}, public=True
    ),
    # Each person's call changes their own account only: one world serves every caller.
    "DELETE /api/session": row(set(ACCOUNTS), 204, "/api/session"),
    "GET /api/me": row(TOKEN_HOLDERS, 200, "/api/me"),
    "PUT /api/me/password": row(
        set(ACCOUNTS),
        204,
        "/api/me/password",
        {"password": "a new long password"},
    ),
    "GET /api/accounts": row({*ADMIN_ONLY, SCHOOL_ADMIN, SCHOOL_ADMIN_B}, 200, "/api/accounts"),
    "POST /api/accounts": row(ADMINS, 201, "/api/accounts", new_account),
    "GET /api/accounts/{account_id}": row(ADMINS, 200, "/api/accounts/{account_id}"),
    "PATCH /api/accounts/{account_id}": row(
        ADMINS, 200, "/api/accounts/{account_id}", {"display_name": "Renamed"}
    ),
    "DELETE /api/accounts/{account_id}": row(
        ADMINS, 204, throwaway_account, check_refused=still_there
    ),
    "POST /api/accounts/{account_id}/sign-in-link": row(
        ADMINS, 201, "/api/accounts/{account_id}/sign-in-link"
    ),
    # schools
    "POST /api/schools": row(ADMIN_ONLY, 201, "/api/schools", {"name": "New"}),
    "GET /api/fleet": row({*ADMIN_ONLY, SCHOOL_ADMIN, SCHOOL_ADMIN_B}, 200, "/api/fleet"),
    # subjects and grades: everyone signed in reads them, the county changes them
    **{
        key: value
        for plural in ("subjects", "grades")
        for key, value in {
            f"GET /api/{plural}": row({*SCHOOL_LISTS, LECTURER_ACCOUNT}, 200, f"/api/{plural}"),
            f"POST /api/{plural}": row(ADMIN_ONLY, 201, f"/api/{plural}", unique_name),
            f"PATCH /api/{plural}/{{item_id}}": row(
                ADMIN_ONLY,
                200,
                throwaway_entry(plural),
                {"retired": True},
                check_refused=entry_not_retired(plural),
            ),
        }.items()
    },
    # attendance reports
    "GET /api/reports/attendance": row(
        ADMIN_STAFF, 200, "/api/reports/attendance?from=2026-09-01&to=2027-01-31"
    ),
    # lesson series
    "POST /api/lessons/series": row(ADMIN_ONLY, 201, "/api/lessons/series", SERIES),
    "DELETE /api/lessons/series/{series}": row(
        ADMIN_ONLY, 200, throwaway_series, check_refused=series_still_there
    ),
    # the timetable as a file (a JSON body is not a timetable: 415), calendar feeds
    "POST /api/timetable/import": row(
        ADMIN_ONLY, 415, "/api/timetable/import?dry_run=true", {"title": "x"}
    ),
    "GET /api/timetable/export": row(ADMIN_ONLY, 200, "/api/timetable/export"),
    "GET /api/calendar-feeds": row(ADMIN_ONLY, 200, "/api/calendar-feeds"),
    "POST /api/calendar-feeds": row(
        ADMIN_ONLY,
        201,
        "/api/calendar-feeds",
        lambda w: {"kind": "classroom", "classroom_id": w.classroom_id},
    ),
    "DELETE /api/calendar-feeds/{feed_id}": row(
        ADMIN_ONLY, 204, throwaway_feed, check_refused=feed_still_there
    ),
    # the data feed
    "GET /api/events": row(ADMIN_ONLY, 200, "/api/events"),
    "GET /api/webhooks": row(ADMIN_ONLY, 200, "/api/webhooks"),
    "POST /api/webhooks": row(ADMIN_ONLY, 201, "/api/webhooks", {"url": "http://127.0.0.1:9/h"}),
    "DELETE /api/webhooks/{webhook_id}": row(
        ADMIN_ONLY, 204, throwaway_webhook, check_refused=webhook_still_there
    ),
    "GET /api/webhooks/{webhook_id}/deliveries": row(ADMIN_ONLY, 200, webhook_deliveries),
    "GET /api/schools": row(SCHOOL_LISTS, 200, "/api/schools"),
    "GET /api/schools/{school_id}": row(
        {*ADMIN_STAFF, SCHOOL_ADMIN}, 200, "/api/schools/{school_id}"
    ),
    "PATCH /api/schools/{school_id}": row(
        ADMIN_ONLY, 200, "/api/schools/{school_id}", {"region": "South"}
    ),
    "DELETE /api/schools/{school_id}": row(
        ADMIN_ONLY, 204, throwaway_school, check_refused=still_there
    ),
    # classrooms
    "POST /api/classrooms": row(
        ADMINS, 201, "/api/classrooms", lambda w: {"name": "New", "school_id": w.school_id}
    ),
    "GET /api/classrooms": row(SCHOOL_LISTS, 200, "/api/classrooms"),
    "GET /api/classrooms/{classroom_id}": row(
        {*ADMIN_STAFF, SCHOOL_ADMIN}, 200, "/api/classrooms/{classroom_id}"
    ),
    "PATCH /api/classrooms/{classroom_id}": row(
        ADMINS, 200, "/api/classrooms/{classroom_id}", {"region": "South"}
    ),
    "DELETE /api/classrooms/{classroom_id}": row(
        ADMINS, 204, throwaway_classroom, check_refused=still_there
    ),
    # device credentials
    "POST /api/classrooms/{classroom_id}/device-credential": row(
        ADMINS, 201, "/api/classrooms/{classroom_id}/device-credential", {"label": "PC 2"}
    ),
    "GET /api/classrooms/{classroom_id}/device-credentials": row(
        ADMINS, 200, "/api/classrooms/{classroom_id}/device-credentials"
    ),
    "DELETE /api/device-credentials/{credential_id}": row(
        ADMINS, 200, throwaway_credential, check_refused=credential_still_active
    ),
    # lessons
    "POST /api/lessons": row(
        ADMINS, 201, "/api/lessons", lambda w: lesson_body([w.classroom_id], "New")
    ),
    "GET /api/lessons": row({*SCHOOL_LISTS, LECTURER_ACCOUNT}, 200, "/api/lessons"),
    "GET /api/lessons/by-code/{code}": row(
        {*VIEWERS, CLASSROOM, RECORDER}, 200, "/api/lessons/by-code/{code}"
    ),
    "GET /api/lessons/{lesson_id}": row(VIEWERS, 200, "/api/lessons/{lesson_id}"),
    "PATCH /api/lessons/{lesson_id}": row(
        ADMINS, 200, "/api/lessons/{lesson_id}", {"description": "Chapter 3 again"}
    ),
    "DELETE /api/lessons/{lesson_id}": row(
        ADMINS, 204, throwaway_lesson, check_refused=still_there
    ),
    "POST /api/lessons/{lesson_id}/start": row(MANAGERS, 200, "/api/lessons/{lesson_id}/start"),
    "POST /api/lessons/{lesson_id}/end": row(
        MANAGERS,
        200,
        "/api/lessons/{lesson_id}/end",
        fresh_world=True,
        check_refused=lesson_still_live,
    ),
    "GET /api/lessons/{lesson_id}/participants": row(
        VIEWERS, 200, "/api/lessons/{lesson_id}/participants"
    ),
    "GET /api/lessons/{lesson_id}/attendance": row(
        VIEWERS, 200, "/api/lessons/{lesson_id}/attendance"
    ),
    "GET /api/lessons/{lesson_id}/attendance/classrooms": row(
        VIEWERS, 200, "/api/lessons/{lesson_id}/attendance/classrooms"
    ),
    "GET /api/lessons/{lesson_id}/recordings": row(
        VIEWERS, 200, "/api/lessons/{lesson_id}/recordings"
    ),
    "GET /api/lessons/{lesson_id}/answers": row(VIEWERS, 200, "/api/lessons/{lesson_id}/answers"),
    "GET /api/lessons/{lesson_id}/roster": row(VIEWERS, 200, "/api/lessons/{lesson_id}/roster"),
    "GET /api/lessons/{lesson_id}/followup": row(VIEWERS, 200, "/api/lessons/{lesson_id}/followup"),
    # tokens
    "POST /api/lessons/{lesson_id}/lecturer-link": row(
        {*ADMINS, LECTURER_ACCOUNT}, 200, "/api/lessons/{lesson_id}/lecturer-link"
    ),
    "POST /api/lessons/{lesson_id}/recorder-token": row(
        ADMINS, 200, "/api/lessons/{lesson_id}/recorder-token"
    ),
    "POST /api/lessons/{lesson_id}/rtmp-key": row(ADMINS, 200, "/api/lessons/{lesson_id}/rtmp-key"),
    "GET /api/lessons/{lesson_id}/rtmp": row(MANAGERS, 200, "/api/lessons/{lesson_id}/rtmp"),
    "POST /api/tokens/staff": row(ADMIN_ONLY, 200, "/api/tokens/staff"),
    "GET /api/tokens": row(ADMIN_ONLY, 200, "/api/tokens"),
    "DELETE /api/tokens/{token_id}": row(
        ADMIN_ONLY, 200, throwaway_link, check_refused=link_still_active
    ),
    # classroom PCs
    "GET /api/device/lessons": row({DEVICE}, 200, "/api/device/lessons", device_route=True),
    "POST /api/device/token": row(
        {DEVICE}, 200, "/api/device/token", {"lesson_code": None}, device_route=True
    ),
    # recordings: staff and admin (files also open with a media ticket in the query string)
    "GET /api/recordings": row({*SCHOOL_LISTS, LECTURER_ACCOUNT}, 200, "/api/recordings"),
    "GET /api/recordings/{recording_id}": row(LIBRARY, 200, "/api/recordings/{recording_id}"),
    "DELETE /api/recordings/{recording_id}": row(
        ADMIN_ONLY, 204, throwaway_recording, check_refused=still_there
    ),
    "GET /api/recordings/{recording_id}/media": row(
        LIBRARY, 200, "/api/recordings/{recording_id}/media"
    ),
    "GET /api/recordings/{recording_id}/screen": row(
        LIBRARY, 200, "/api/recordings/{recording_id}/screen"
    ),
    "GET /api/recordings/{recording_id}/stage": row(
        LIBRARY, 200, "/api/recordings/{recording_id}/stage"
    ),
    "GET /api/recordings/{recording_id}/poster": row(
        LIBRARY, 200, "/api/recordings/{recording_id}/poster"
    ),
    "GET /api/recordings/{recording_id}/download": row(
        LIBRARY, 200, "/api/recordings/{recording_id}/download"
    ),
    "GET /api/recordings/{recording_id}/manifest": row(
        LIBRARY, 200, "/api/recordings/{recording_id}/manifest"
    ),
    # capsules: read like their recording; deleted by the county, the school's admin, the
    # lesson's lecturer account and whoever cut them; a replay is reported by any reader
    "POST /api/capsules": row(LIBRARY, 400, "/api/capsules", capsule_body),
    "GET /api/capsules": row({*SCHOOL_LISTS, LECTURER_ACCOUNT}, 200, "/api/capsules"),
    "GET /api/capsules/facets": row({*SCHOOL_LISTS, LECTURER_ACCOUNT}, 200, "/api/capsules/facets"),
    "GET /api/capsules/{capsule_id}": row(LIBRARY, 200, "/api/capsules/{capsule_id}"),
    "DELETE /api/capsules/{capsule_id}": row(
        {*ADMINS, LECTURER_ACCOUNT}, 204, throwaway_capsule, check_refused=still_there
    ),
    "GET /api/capsules/{capsule_id}/media": row(LIBRARY, 200, "/api/capsules/{capsule_id}/media"),
    "GET /api/capsules/{capsule_id}/poster": row(LIBRARY, 200, "/api/capsules/{capsule_id}/poster"),
    "GET /api/capsules/{capsule_id}/thumb": row(LIBRARY, 200, "/api/capsules/{capsule_id}/thumb"),
    "GET /api/capsules/{capsule_id}/download": row(
        LIBRARY, 200, "/api/capsules/{capsule_id}/download"
    ),
    "GET /api/capsules/{capsule_id}/replay": row(LIBRARY, 200, "/api/capsules/{capsule_id}/replay"),
    "GET /api/recordings/{recording_id}/replay": row(
        LIBRARY, 200, "/api/recordings/{recording_id}/replay"
    ),
    "POST /api/replay/watched": row(LIBRARY, 204, "/api/replay/watched", watched_body),
    # the archive's care: the access log for county and school admins (each their school's
    # entries), retention and the disk for the county
    "GET /api/access-log": row({*ADMIN_ONLY, SCHOOL_ADMIN, SCHOOL_ADMIN_B}, 200, "/api/access-log"),
    "GET /api/access-log.csv": row(
        {*ADMIN_ONLY, SCHOOL_ADMIN, SCHOOL_ADMIN_B}, 200, "/api/access-log.csv"
    ),
    "GET /api/retention/policies": row(ADMIN_ONLY, 200, "/api/retention/policies"),
    # No such school: every allowed caller reaches the check (a real one: PATCH below).
    "POST /api/retention/policies": row(
        ADMIN_ONLY, 404, "/api/retention/policies", {"school_id": MAX_ID, "keep_days": 30}
    ),
    "PATCH /api/retention/policies/{policy_id}": row(
        ADMIN_ONLY, 200, throwaway_policy, {"keep_days": 30_001}
    ),
    "DELETE /api/retention/policies/{policy_id}": row(
        ADMIN_ONLY, 204, throwaway_policy, check_refused=policy_still_there
    ),
    "POST /api/retention/run": row(ADMIN_ONLY, 200, "/api/retention/run", {"dry_run": True}),
    "GET /api/disk": row(ADMIN_ONLY, 200, "/api/disk"),
    "GET /api/recordings/{recording_id}/thumbnails/{index}": row(
        LIBRARY, 200, "/api/recordings/{recording_id}/thumbnails/0"
    ),
    # connection checks: classroom PCs (doctor), any token holder (the lecturer page), admins
    "GET /api/device/network": row({DEVICE}, 200, "/api/device/network", device_route=True),
    "POST /api/device/ice-probe": row(
        {DEVICE}, 400, "/api/device/ice-probe", {"sdp": "v=0"}, device_route=True
    ),
    "GET /api/device/bandwidth": row(
        {DEVICE}, 200, "/api/device/bandwidth?size=1000", device_route=True
    ),
    "POST /api/device/bandwidth": row(
        {DEVICE}, 200, "/api/device/bandwidth", {"x": 1}, device_route=True
    ),
    "POST /api/device/connection-check": row(
        {DEVICE},
        201,
        "/api/device/connection-check",
        {"ok": True, "summary": "fine", "lines": []},
        device_route=True,
    ),
    "GET /api/network/ice-servers": row(TOKEN_HOLDERS, 200, "/api/network/ice-servers"),
    "POST /api/network/ice-probe": row(TOKEN_HOLDERS, 400, "/api/network/ice-probe", {"sdp": ""}),
    "GET /api/network/bandwidth": row(TOKEN_HOLDERS, 200, "/api/network/bandwidth?size=1000"),
    "POST /api/network/bandwidth": row(TOKEN_HOLDERS, 200, "/api/network/bandwidth", {"x": 1}),
    "GET /api/classrooms/{classroom_id}/connection-checks": row(
        ADMINS, 200, "/api/classrooms/{classroom_id}/connection-checks"
    ),
}


def expected(r: Row, caller: str) -> tuple[int, str | None]:
    """The status and problem code a caller should get from a route."""
    if r.public:
        return r.status, "sign_in_failed" if r.status == 401 else None
    if r.device_route:
        if caller == DEVICE:
            return r.status, None
        return 401, "token_missing" if caller == NONE else "credential_invalid"
    if caller == NONE:
        return 401, "token_missing"
    if caller == EXPIRED:
        return 401, "token_expired"
    if caller in (GARBAGE, DEVICE, TICKET):
        return 401, "token_invalid"
    if caller in r.allowed:
        return r.status, None
    assert caller in JWT_CALLERS or caller == ADMIN  # the admin key is no person's session
    return 403, None


def api_route_keys(app: FastAPI) -> set[str]:
    """ "METHOD /path" of every APIRoute under /api, however the app nests its routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI without nested router contexts: app.routes is flat
        routes = [(r, r.path, r.methods) for r in app.routes if isinstance(r, APIRoute)]
    else:
        routes = [(c.original_route, c.path, c.methods) for c in iter_route_contexts(app.routes)]
    keys = set()
    for route, path, methods in routes:
        if isinstance(route, APIRoute) and path and path.startswith("/api/"):
            keys.update(f"{m} {path}" for m in methods or () if m != "HEAD")
    return keys


# One hub per backend for the module (starting one per route is most of the cost), started
# when its first test runs and stopped before its database is dropped. The backend is a plain
# parameter, not a parametrized module fixture: pytest regrouped those and started new hubs
# in the middle of the table.
SHARED = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Backend:
    hub: InProcessHub
    admin: AdminApi
    # The world the GET rows share (a read changes nothing another row relies on); a row that
    # writes builds its own. None until the first GET row.
    reads: World | None = None

    async def read_world(self) -> World:
        if self.reads is None:
            self.reads = await build_world(self.hub, self.admin)
        return self.reads


Backends = Callable[[str], Awaitable[Backend]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backends(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backends]:
    started: dict[str, Backend] = {}
    async with contextlib.AsyncExitStack() as stack:

        async def backend(name: str) -> Backend:
            if name in started:
                return started[name]
            url = None
            if name == "postgresql":
                server = request.getfixturevalue("postgres_server")
                url = await stack.enter_async_context(fresh_database(server))
            make = await stack.enter_async_context(hub_factory(tmp_path_factory.mktemp(name)))
            # The RTMP bridge on (a free port), so that its stream-key routes answer.
            rtmp = {"enabled": True, "port": free_port()}
            hub = await make(recorder={"enabled": False}, rtmp=rtmp, database_url=url)
            # argon2id with small parameters (tests/auth/test_passwords.py has the real ones).
            hub.services.passwords = Passwords(FAST)
            admin = AdminApi(hub.url)
            stack.push_async_callback(admin.close)
            started[name] = Backend(hub, admin)
            return started[name]

        yield backend


def test_table_names_every_api_route(tmp_path: Path) -> None:
    app = InProcessHub(tmp_path / "hub").app  # built, not served
    routes = api_route_keys(app)
    assert len(routes) >= 20  # the enumeration itself works
    missing = sorted(routes - set(TABLE))
    stale = sorted(set(TABLE) - routes)
    assert not missing, f"routes with no row in the authorization table: {missing}"
    assert not stale, f"rows for routes the app does not have: {stale}"
    assert set(TABLE) == routes


async def call(
    http: httpx.AsyncClient, key: str, path: str, body: Any, token: str | None
) -> httpx.Response:
    method = key.split(" ", 1)[0]
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None or method in ("POST", "PATCH"):
        kwargs["json"] = body
    return await http.request(method, path, **kwargs)


# The whole table on SQLite; on PostgreSQL the routes that write the catalog and those whose
# reads join or filter rows (the gate's own checks are the same queries): the file, network
# and token-only routes add nothing there but time.
POSTGRES_ROUTES = {
    *(key for key in TABLE if not key.startswith("GET ")),
    "GET /api/lessons",
    "GET /api/lessons/{lesson_id}/attendance",
    "GET /api/lessons/{lesson_id}/roster",
    "GET /api/device/lessons",
    "GET /api/recordings",
    "GET /api/tokens",
    "GET /api/capsules",
    "GET /api/capsules/facets",
    "GET /api/recordings/{recording_id}/replay",
    "GET /api/access-log",
    "GET /api/disk",
} - {
    # People's routes: on SQLite here (tests/api/test_accounts.py has the rest).
    *(key for key in TABLE if "/api/session" in key or "/api/accounts" in key),
    "PUT /api/me/password",
    "POST /api/device/bandwidth",
    "POST /api/device/ice-probe",
    "POST /api/network/bandwidth",
    "POST /api/network/ice-probe",
}
MATRIX = [pytest.param("sqlite", key, id=f"sqlite-{key}") for key in sorted(TABLE)] + [
    pytest.param("postgresql", key, id=f"postgresql-{key}") for key in sorted(POSTGRES_ROUTES)
]


@SHARED
@pytest.mark.parametrize(("database", "key"), MATRIX)
async def test_route_against_every_caller(backends: Backends, database: str, key: str) -> None:
    r = TABLE[key]
    failures: list[str] = []
    backend = await backends(database)
    hub, admin = backend.hub, backend.admin
    reads = key.startswith("GET ") and not r.fresh_world
    world = await backend.read_world() if reads else await build_world(hub, admin)
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:
        changed = False
        for caller in CALLERS:
            if changed:
                world = await build_world(hub, admin)
            changed = r.fresh_world and caller in r.allowed
            path = await r.path(world)
            body = r.body(world) if callable(r.body) else r.body
            response = await call(http, key, path, body, world.auth[caller])
            status, code = expected(r, caller)
            got = response.status_code
            what = f"{caller:>16} {key} ({path}): expected {status}, got {got}"
            if got != status:
                failures.append(f"{what} {response.text[:200]}")
                continue
            if got >= 400:
                if not response.headers.get("content-type", "").startswith(PROBLEM):
                    failures.append(f"{what} but not problem+json")
                    continue
                problem = response.json()
                if code is not None and problem.get("code") != code:
                    failures.append(f"{what} with code {problem.get('code')!r}, not {code!r}")
                if got == 401 and response.headers.get("www-authenticate") != "Bearer":
                    failures.append(f"{what} without WWW-Authenticate: Bearer")
                if r.check_refused is not None:
                    try:
                        await r.check_refused(world, path)
                    except AssertionError as exc:
                        failures.append(f"{what} but the call took effect: {exc}")
    assert not failures, "\n".join(failures)


@SHARED
@pytest.mark.parametrize("database", DATABASES)
async def test_allowed_calls_really_succeed(backends: Backends, database: str) -> None:
    """The matrix's success statuses mean the work was done, not only that the gate opened."""
    backend = await backends(database)
    world = await build_world(backend.hub, backend.admin)
    hub = backend.hub
    auth = world.auth
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:
        h = {"Authorization": f"Bearer {auth[LECTURER]}"}
        by_code = await http.get(f"/api/lessons/by-code/{world.code}", headers=h)
        assert by_code.json()["id"] == world.lesson_id
        for caller in (CLASSROOM, RECORDER):
            h = {"Authorization": f"Bearer {auth[caller]}"}
            got = await http.get(f"/api/lessons/by-code/{world.code}", headers=h)
            assert got.status_code == 200 and got.json()["id"] == world.lesson_id
        h = {"Authorization": f"Bearer {auth[LECTURER_OTHER]}"}
        ended = await http.post(f"/api/lessons/{world.lesson_b}/end", headers=h)
        assert ended.status_code == 200 and ended.json()["status"] == "ended"
        lesson_a = (await world.admin.http.get(f"/api/lessons/{world.lesson_id}")).json()
        assert lesson_a["status"] == "live"  # only its own lesson ended
        h = {"Authorization": f"Bearer {auth[DEVICE]}"}
        timetable = (await http.get("/api/device/lessons", headers=h)).json()
        assert [x["id"] for x in timetable["lessons"]] == [world.lesson_id]
