"""Ids are never reused, and every token opens only the row it was issued for (issue 13, items
1 and 2): a lecturer link, a classroom token or a replay ticket that outlives its row is refused
even when a new row carries the old id; an invite-only lesson never turns open."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from streamhub.catalog.models import Base
from streamhub.catalog.search import modelled
from streamhub.catalog.store import Catalog, _run_migrations
from streamhub.client import signaling_url
from streamhub.config import load_settings
from tests.api.test_authorization_matrix import ready_recording
from tests.support.hub import AdminApi, HubFactory, InProcessHub

PROBLEM = "application/problem+json"


@pytest.fixture
async def hub(database_url: str | None, make_hub: HubFactory) -> InProcessHub:
    return await make_hub(recorder={"enabled": False}, database_url=database_url)


def soon(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def lesson_body(classroom_ids: list[int], **extra: Any) -> dict[str, Any]:
    return {
        "title": "Algebra",
        "lecturer_name": "Ms Li",
        "scheduled_start": soon(1),
        "scheduled_end": soon(2),
        "classroom_ids": classroom_ids,
        **extra,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: httpx.Response, code: str = "token_stale") -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == code, response.text


async def reinsert_with_id(hub: InProcessHub, table: str, ident: int, **values: Any) -> None:
    """A row that takes a freed id again, as a database restored from a backup or a reset
    sequence would hand out: the old tokens must still not open it."""
    columns = {"id": ident, "row_key": "0" * 32, **values}
    names = ", ".join(columns)
    params = ", ".join(f":{name}" for name in columns)
    async with hub.services.catalog.engine.begin() as connection:
        await connection.execute(
            sa.text(f"INSERT INTO {table} ({names}) VALUES ({params})"), columns
        )


async def test_ids_of_deleted_newest_rows_are_never_handed_out_again(
    hub: InProcessHub, admin: AdminApi
) -> None:
    school = await admin.post("/api/schools", {"name": "North"})
    room = await admin.post("/api/classrooms", {"name": "A", "school_id": school["id"]})
    lesson = await admin.post("/api/lessons", lesson_body([room["id"]]))
    recording = await ready_recording(hub, lesson["id"])
    for path in (f"/api/recordings/{recording}", f"/api/lessons/{lesson['id']}"):
        assert (await admin.http.delete(path)).status_code == 204
    assert (await admin.http.delete(f"/api/classrooms/{room['id']}")).status_code == 204
    new_room = await admin.post("/api/classrooms", {"name": "B", "school_id": school["id"]})
    new_lesson = await admin.post("/api/lessons", lesson_body([new_room["id"]]))
    new_recording = await ready_recording(hub, new_lesson["id"])
    assert new_room["id"] > room["id"]
    assert new_lesson["id"] > lesson["id"]
    assert new_recording > recording


async def test_a_lecturer_link_never_opens_a_new_lesson_with_its_old_id(
    hub: InProcessHub, admin: AdminApi
) -> None:
    old = await admin.post("/api/lessons", lesson_body([]))
    link = await admin.post(f"/api/lessons/{old['id']}/lecturer-link")
    h = bearer(link["token"])
    assert (await admin.http.get(f"/api/lessons/{old['id']}", headers=h)).status_code == 200
    assert (await admin.http.delete(f"/api/lessons/{old['id']}")).status_code == 204
    # Deleted: the link is dead at once (its row went with the lesson).
    assert_refused(await admin.http.get(f"/api/lessons/{old['id']}", headers=h))
    await reinsert_with_id(
        hub,
        "lessons",
        old["id"],
        title="Someone else's lesson",
        subject="",
        lecturer_name="Mr Okafor",
        scheduled_start=datetime.now(UTC),
        scheduled_end=datetime.now(UTC) + timedelta(hours=1),
        status="live",
        join_code="NEWONE",
        open_to_all=False,
        created_at=datetime.now(UTC),
    )
    for method, path in (
        ("GET", f"/api/lessons/{old['id']}"),
        ("GET", f"/api/lessons/{old['id']}/attendance"),
        ("POST", f"/api/lessons/{old['id']}/start"),
        ("POST", f"/api/lessons/{old['id']}/end"),
    ):
        assert_refused(await admin.http.request(method, path, headers=h))
    # Nor does it join the new lesson's live room.
    async with websockets.connect(signaling_url(admin.http.base_url.__str__())) as ws:
        await ws.send(json.dumps({"type": "join", "token": link["token"]}))
        reply = json.loads(await ws.recv())
        assert (reply["type"], reply["code"]) == ("error", "token_stale")


async def test_a_deleted_classrooms_token_is_refused(hub: InProcessHub, admin: AdminApi) -> None:
    setup = await admin.lesson(classrooms=1)
    token = await admin.device_token(setup.credentials[0], setup.code)
    h = bearer(token)
    assert (
        await admin.http.get(f"/api/lessons/by-code/{setup.code}", headers=h)
    ).status_code == 200
    assert (await admin.http.delete(f"/api/classrooms/{setup.classroom_ids[0]}")).status_code == 204
    assert_refused(await admin.http.get(f"/api/lessons/by-code/{setup.code}", headers=h))
    async with websockets.connect(signaling_url(hub.url)) as ws:
        await ws.send(json.dumps({"type": "join", "token": token}))
        reply = json.loads(await ws.recv())
        assert (reply["type"], reply["code"]) == ("error", "token_stale")


async def test_an_old_replay_ticket_never_opens_another_recording(
    hub: InProcessHub, admin: AdminApi
) -> None:
    setup = await admin.lesson(classrooms=0, start=False)
    rid = await ready_recording(hub, setup.lesson_id)
    listed = (await admin.http.get(f"/api/recordings/{rid}")).json()
    media_url = listed["media_url"]
    anon = httpx.AsyncClient(base_url=hub.url, timeout=10)
    try:
        assert (await anon.get(media_url)).status_code == 200
        directory = (await hub.services.catalog.get_recording(rid)).directory
        assert (await admin.http.delete(f"/api/recordings/{rid}")).status_code == 204
        # Another lesson's recording takes the freed id (the files of it are on disk).
        other = await admin.lesson(classrooms=0, start=False, title="Other")
        root = hub.settings.effective_recordings_dir / directory
        root.mkdir(parents=True)
        (root / "lesson.mp4").write_bytes(b"\x00" * 64)
        await reinsert_with_id(
            hub,
            "recordings",
            rid,
            lesson_id=other.lesson_id,
            state="ready",
            failure_reason="",
            directory=directory,
            duration_s=1.0,
            size_bytes=64,
            progress=1.0,
            has_screen=False,
            started_at=datetime.now(UTC),
        )
        refused = await anon.get(media_url)
        assert refused.status_code == 401, refused.text
    finally:
        await anon.aclose()


async def test_an_invite_only_lesson_never_turns_open(hub: InProcessHub, admin: AdminApi) -> None:
    ours = await admin.post("/api/schools", {"name": "Ours"})
    theirs = await admin.post("/api/schools", {"name": "Theirs"})
    invited = await admin.post("/api/classrooms", {"name": "A", "school_id": ours["id"]})
    outsider = await admin.post("/api/classrooms", {"name": "X", "school_id": theirs["id"]})
    credential = (await admin.post(f"/api/classrooms/{outsider['id']}/device-credential"))[
        "credential"
    ]
    lesson = await admin.post("/api/lessons", lesson_body([invited["id"]]))
    assert lesson["open_to_all"] is False
    await admin.post(f"/api/lessons/{lesson['id']}/start")

    async def exchange() -> httpx.Response:
        return await admin.http.post(
            "/api/device/token",
            json={"lesson_code": lesson["join_code"]},
            headers=bearer(credential),
        )

    assert (await exchange()).status_code == 403
    # Deleting the only invited classroom leaves an empty list: still invite-only.
    assert (await admin.http.delete(f"/api/classrooms/{invited['id']}")).status_code == 204
    after = (await admin.http.get(f"/api/lessons/{lesson['id']}")).json()
    assert after["classroom_ids"] == [] and after["open_to_all"] is False
    refused = await exchange()
    assert refused.status_code == 403 and refused.json()["code"] == "not_invited"
    # Opening it is an explicit act.
    patched = await admin.http.patch(f"/api/lessons/{lesson['id']}", json={"open_to_all": True})
    assert patched.json()["open_to_all"] is True
    assert (await exchange()).status_code == 200


def _upgrade_to_0001(connection: Connection) -> None:
    from alembic.config import Config

    from streamhub.catalog.store import MIGRATIONS

    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "0001")


def _rows_of_0001(connection: Connection) -> None:
    """Rows as revision 0001 had them: ids from the database, as the hub inserted them."""

    def run(sql: str, **params: Any) -> None:
        statement = sa.text(sql)
        if "now" in params:
            statement = statement.bindparams(sa.bindparam("now", type_=sa.DateTime(True)))
        connection.execute(statement, params)

    now = datetime.now(UTC)
    run("INSERT INTO schools (name, region, created_at) VALUES ('S', '', :now)", now=now)
    for _ in (1, 2):
        run(
            "INSERT INTO classrooms (school_id, name, region, created_at) "
            "VALUES (1, 'C', '', :now)",
            now=now,
        )
    for ident in (1, 2, 3):
        run(
            "INSERT INTO lessons (title, subject, lecturer_name, scheduled_start, "
            "scheduled_end, status, join_code, created_at) "
            "VALUES ('L', '', '', :now, :now, 'ended', :code, :now)",
            now=now,
            code=f"CODE{ident}",
        )
    run("INSERT INTO lesson_invites VALUES (1, 1), (2, 2)")
    run(
        "INSERT INTO recordings (lesson_id, state, failure_reason, directory, duration_s,"
        " size_bytes, progress, has_screen, started_at) "
        "VALUES (1, 'ready', '', 'd', 1, 1, 1, FALSE, :now)",
        now=now,
    )


def _check_migrated(connection: Connection) -> list[Any]:
    def run(sql: str, **params: Any) -> Any:
        statement = sa.text(sql)
        if "now" in params:
            statement = statement.bindparams(sa.bindparam("now", type_=sa.DateTime(True)))
        return connection.execute(statement, params)

    assert run("SELECT count(*) FROM lessons").scalar() == 3
    assert run("SELECT count(*) FROM lesson_invites").scalar() == 2
    assert run("SELECT count(*) FROM recordings").scalar() == 1
    keys = [r[0] for r in run("SELECT row_key FROM lessons")]
    assert len(keys) == 3 and len(set(keys)) == 3 and all(len(k) == 32 for k in keys)
    assert {r[0] for r in run("SELECT open_to_all FROM lessons")} == {False}
    run("DELETE FROM lessons WHERE id = 3")
    run(
        "INSERT INTO lessons (title, subject, lecturer_name, scheduled_start, scheduled_end,"
        " status, join_code, created_at, row_key, open_to_all) "
        "VALUES ('N', '', '', :now, :now, 'scheduled', 'NEW', :now, 'k', FALSE)",
        now=datetime.now(UTC),
    )
    assert run("SELECT max(id) FROM lessons").scalar() == 4
    context = MigrationContext.configure(connection, opts={"include_name": modelled})
    return list(compare_metadata(context, Base.metadata))


async def test_migration_from_0001_keeps_rows_and_stops_id_reuse(
    tmp_path: Path, database_url: str | None
) -> None:
    """A catalog made by revision 0001 with rows in it: the later revisions keep every row and
    invitation (recreating SQLite tables must not cascade), give each row a key, stop id reuse,
    and leave the schema exactly as the models say, on SQLite and on PostgreSQL."""
    engine = create_async_engine(database_url or f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_to_0001)
        async with engine.begin() as connection:
            await connection.run_sync(_rows_of_0001)
        async with engine.begin() as connection:
            await connection.run_sync(_run_migrations)
        async with engine.begin() as connection:
            diffs = await connection.run_sync(_check_migrated)
    finally:
        await engine.dispose()
    assert diffs == [], diffs


async def test_catalog_open_migrates_an_existing_database(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = load_settings(None, data_dir=tmp_path, database_url=database_url)
    catalog = await Catalog.open(settings)
    school = await catalog.create_school("S")
    await catalog.close()
    again = await Catalog.open(settings)  # a second start: nothing to do, nothing lost
    assert (await again.get_school(school.id)).name == "S"
    await again.close()
