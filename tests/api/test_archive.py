"""The archive's care through one in-process hub per backend: retention deletes exactly the
expired recordings (files and rows), never a capsule or a marked lesson; a dry run deletes
nothing; the disk view agrees with the bytes on disk; the access log records a replay, a
download and a capsule view (who, what, when, from where), each school admin sees their own
school's; a school with downloads off gets 403 and nothing is logged."""

from __future__ import annotations

import csv
import io
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamhub.auth.roles import AccountRole
from streamhub.catalog.models import utcnow
from streamhub.errors import NotFound
from streamhub.lesson.ports import LessonEvent
from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.wait import eventually

PROBLEM = "application/problem+json"


@pytest.fixture
async def hub(make_hub: HubFactory, database_url: str | None) -> InProcessHub:
    return await make_hub(
        recorder={"enabled": False},
        archive={"retention_every_s": 0, "access_log_keep_days": 30},
        database_url=database_url,
    )


def du_b(path: Path) -> int:
    """Every file's apparent size under path (``du -b`` without the folders' own)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir())


async def lesson(admin: AdminApi, school_id: int, subject: str, title: str) -> int:
    await admin.subject(subject)
    made = await admin.post(
        "/api/lessons",
        {
            "title": title,
            "subject": subject,
            "lecturer_name": "Ms Li",
            "scheduled_start": "2026-11-24T08:00:00Z",
            "scheduled_end": "2026-11-24T09:00:00Z",
            "classroom_ids": [],
            "school_id": school_id,
        },
    )
    return int(made["id"])


async def recording(
    hub: InProcessHub, lesson_id: int, days_ago: float, size: int, state: str = "ready"
) -> int:
    """A recording's row and files as finalize leaves them, ended ``days_ago``."""
    catalog = hub.services.catalog
    directory = f"rec-{secrets.token_hex(4)}"
    root = hub.settings.effective_recordings_dir / directory
    (root / "thumbs").mkdir(parents=True)
    (root / "lesson.mp4").write_bytes(os.urandom(size))
    (root / "poster.jpg").write_bytes(b"\xff" * 100)
    (root / "thumbs" / "thumb-000.jpg").write_bytes(b"\xff" * 33)
    rec = await catalog.create_recording(lesson_id, directory)
    ended = utcnow() - timedelta(days=days_ago)
    await catalog.update_recording(
        rec.id, state=state, duration_s=10.0, progress=1.0, started_at=ended, ended_at=ended
    )
    return int(rec.id)


async def capsule(hub: InProcessHub, recording_id: int, size: int = 500) -> tuple[int, Path]:
    catalog = hub.services.catalog
    rec = await catalog.get_recording(recording_id)
    directory = f"capsules/capsule-{secrets.token_hex(4)}"
    root = hub.settings.effective_recordings_dir / directory
    root.mkdir(parents=True)
    (root / "clip.mp4").write_bytes(os.urandom(size))
    made = await catalog.create_capsule(
        ["common mistake"],
        recording_id=rec.id,
        lesson_id=rec.lesson_id,
        school_id=rec.lesson.school_id,
        lecturer_account_id=None,
        title="通分的常见错误",
        start_s=0.0,
        end_s=5.0,
        requested_start_s=0.0,
        duration_s=5.0,
        directory=directory,
        has_poster=False,
    )
    return int(made.id), root


async def test_retention_deletes_exactly_the_expired_and_the_disk_view_agrees(
    hub: InProcessHub, admin: AdminApi
) -> None:
    http, catalog = admin.http, hub.services.catalog
    school_a = (await admin.post("/api/schools", {"name": "School A"}))["id"]
    school_b = (await admin.post("/api/schools", {"name": "School B"}))["id"]
    math = await admin.subject("数学")
    english = await admin.subject("English")
    l_old = await lesson(admin, school_a, "数学", "old")
    l_marked = await lesson(admin, school_a, "数学", "marked")
    l_english = await lesson(admin, school_a, "English", "english")
    l_recent = await lesson(admin, school_a, "数学", "recent")
    l_b_math = await lesson(admin, school_b, "数学", "b math")
    l_b_english = await lesson(admin, school_b, "English", "b english")
    await catalog.add_lesson_events([LessonEvent(l_marked, "mark", utcnow(), name="Ms Li")])
    old = await recording(hub, l_old, 40, 3000)
    marked = await recording(hub, l_marked, 40, 2000)
    eng = await recording(hub, l_english, 40, 1500)  # A + English: 60 days
    recent = await recording(hub, l_recent, 5, 1200)
    still_writing = await recording(hub, l_old, 40, 700, state="finalizing")
    b_math = await recording(hub, l_b_math, 25, 900)  # any school, 数学: 20 days
    b_english = await recording(hub, l_b_english, 25, 800)  # the county's default: 100 days
    capsule_id, capsule_dir = await capsule(hub, old)
    entry = {"action": "replay", "who": "admin-key", "title": "t", "client_ip": "127.0.0.1"}
    await catalog.add_access_entries(
        [{**entry, "at": utcnow() - timedelta(days=days)} for days in (40, 2)]
    )
    for body in (
        {"school_id": school_a, "keep_days": 30},
        {"school_id": school_a, "subject_id": english, "keep_days": 60},
        {"subject_id": math, "keep_days": 20},
        {"keep_days": 100},
    ):
        assert (await http.post("/api/retention/policies", json=body)).status_code == 201
    again = await http.post("/api/retention/policies", json={"keep_days": 7})
    assert again.status_code == 409 and again.json()["code"] == "policy_exists"
    assert again.headers["content-type"].startswith(PROBLEM)

    # The disk view before: per school and subject as the folders hold, capsules apart.
    root = hub.settings.effective_recordings_dir
    folder = {r: root / (await catalog.get_recording(r)).directory for r in (old, marked, eng)}
    disk = (await http.get("/api/disk")).json()
    sizes = {
        r: du_b(root / (await catalog.get_recording(r)).directory)
        for r in (old, marked, eng, recent, still_writing, b_math, b_english)
    }
    by_school = {row["id"]: row["bytes"] for row in disk["by_school"]}
    assert by_school[school_a] == sum(sizes[r] for r in (old, marked, eng, recent, still_writing))
    assert by_school[school_b] == sizes[b_math] + sizes[b_english]
    by_subject = {row["id"]: row["bytes"] for row in disk["by_subject"]}
    assert by_subject[english] == sizes[eng] + sizes[b_english]
    assert disk["capsules_bytes"] == du_b(root / "capsules") == 500
    assert disk["recordings_bytes"] == sum(sizes.values())
    assert disk["total_bytes"] == du_b(root)
    assert 0 < disk["free_bytes"] <= disk["disk_bytes"]

    dry = (await http.post("/api/retention/run", json={"dry_run": True})).json()
    assert {r["recording_id"] for r in dry["recordings"]} == {old, b_math}
    assert dry["deleted"] == 0 and not any(r["deleted"] for r in dry["recordings"])
    assert dry["access_entries_deleted"] == 0
    assert all(folder[r].is_dir() for r in folder)
    assert (await http.get(f"/api/recordings/{old}")).status_code == 200

    run = (await http.post("/api/retention/run", json={"dry_run": False})).json()
    assert {r["recording_id"] for r in run["recordings"] if r["deleted"]} == {old, b_math}
    # The access log keeps 30 days (archive.access_log_keep_days).
    assert run["access_entries_deleted"] == 1
    assert (await http.get("/api/access-log")).json()["total"] == 1
    for gone in (old, b_math):
        with pytest.raises(NotFound):
            await catalog.get_recording(gone)
    assert not folder[old].exists()
    for kept in (marked, eng, recent, still_writing, b_english):
        assert (await catalog.get_recording(kept)).id == kept
        assert (root / (await catalog.get_recording(kept)).directory / "lesson.mp4").is_file()
    # The capsule cut from a deleted recording stays, files and all.
    assert (await http.get(f"/api/capsules/{capsule_id}")).status_code == 200
    assert (capsule_dir / "clip.mp4").stat().st_size == 500
    after = (await http.post("/api/retention/run", json={"dry_run": False})).json()
    assert after["recordings"] == []
    assert (await http.get("/api/disk")).json()["recordings_bytes"] == sum(
        sizes[r] for r in (marked, eng, recent, still_writing, b_english)
    )


async def session(hub: InProcessHub, role: AccountRole, school_id: int | None) -> dict[str, str]:
    catalog, tokens = hub.services.catalog, hub.services.tokens
    row = await catalog.create_account(
        login=f"{role.value}-{secrets.token_hex(4)}@county.cn",
        role=role,
        school_id=school_id,
        display_name=f"{role.value} of {school_id}",
    )
    return {"Authorization": f"Bearer {tokens.issue_session(row.id, row.session_key, 600)}"}


async def test_the_access_log_records_who_watched_what_and_downloads_can_be_off(
    hub: InProcessHub, admin: AdminApi
) -> None:
    http = admin.http
    school_a = (await admin.post("/api/schools", {"name": "School A"}))["id"]
    school_b = (await admin.post("/api/schools", {"name": "School B"}))["id"]
    rec_a = await recording(hub, await lesson(admin, school_a, "数学", "分数的加法"), 1, 400)
    rec_b = await recording(hub, await lesson(admin, school_b, "数学", "Lesson B"), 1, 400)
    capsule_a, _ = await capsule(hub, rec_a)
    admin_a = await session(hub, AccountRole.SCHOOL_ADMIN, school_a)
    admin_b = await session(hub, AccountRole.SCHOOL_ADMIN, school_b)
    staff = (await admin.post("/api/tokens/staff", {"label": "Inspector Wang"}))["token"]
    as_staff = {"Authorization": f"Bearer {staff}"}
    started = utcnow()

    def watched(target: dict[str, int], key: str) -> dict[str, Any]:
        return {**target, "session": key, "ranges": [[0.0, 3.0]]}

    # A replay (its second report is the same replay), a capsule view, a download by ticket.
    for _ in range(2):
        reported = await http.post(
            "/api/replay/watched", json=watched({"recording_id": rec_a}, "ab" * 8), headers=as_staff
        )
        assert reported.status_code == 204, reported.text
    # Through a proxy the hub trusts (tls.trusted_proxies; 127.0.0.1 here): the forwarded address.
    via_proxy = {**admin_a, "X-Forwarded-For": "203.0.113.7"}
    viewed = await http.post(
        "/api/replay/watched", json=watched({"capsule_id": capsule_a}, "cd" * 8), headers=via_proxy
    )
    assert viewed.status_code == 204
    listed = (await http.get(f"/api/recordings/{rec_a}", headers=as_staff)).json()
    async with httpx.AsyncClient(base_url=hub.url) as anon:  # the link alone, as a browser
        assert (await anon.get(listed["download_url"])).status_code == 200
    await http.post("/api/replay/watched", json=watched({"recording_id": rec_b}, "ef" * 8))

    async def entries(headers: dict[str, str] | None = None, **query: Any) -> list[Any]:
        page = await http.get("/api/access-log", params=query, headers=headers)
        assert page.status_code == 200, page.text
        return list(page.json()["items"])

    log = await eventually(lambda: _at_least(entries(), 4))
    assert len(log) == 4
    of_a = {e["action"]: e for e in log if e["school_id"] == school_a}
    download, view, replay_a = of_a["download"], of_a["capsule_view"], of_a["replay"]
    assert download["action"] == "download" and download["recording_id"] == rec_a
    assert download["who"].startswith("token:") and download["who_name"] == "Inspector Wang"
    assert view["action"] == "capsule_view" and view["capsule_id"] == capsule_a
    assert view["who_name"] == f"school_admin of {school_a}" and view["title"] == "通分的常见错误"
    assert replay_a["action"] == "replay" and replay_a["title"] == "分数的加法"
    assert replay_a["who"] == download["who"]
    assert view["client_ip"] == "203.0.113.7"
    assert all(e["client_ip"] == "127.0.0.1" for e in log if e is not view)
    assert all(e["at"] >= started.isoformat()[:19] for e in log)
    (replay_b,) = (e for e in log if e["school_id"] == school_b)
    assert replay_b["who"] == "admin-key" and replay_b["recording_id"] == rec_b

    # Each school admin reads their own school's entries, whatever they ask for.
    assert {e["id"] for e in await entries(admin_a)} == {download["id"], view["id"], replay_a["id"]}
    assert await entries(admin_a, school_id=school_b) == []
    assert [e["id"] for e in await entries(admin_b)] == [replay_b["id"]]
    assert [e["id"] for e in await entries(recording_id=rec_b)] == [replay_b["id"]]
    assert await entries(date_from=(utcnow() + timedelta(hours=1)).isoformat()) == []
    assert len(await entries(action="replay")) == 2
    exported = await http.get("/api/access-log.csv", headers=admin_a)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["at", "action", "who"] and len(rows) == 4

    # Downloads off for school A: no link, 403 downloads_off, nothing logged as downloaded.
    off = await http.patch(f"/api/schools/{school_a}", json={"downloads_allowed": False})
    assert off.json()["downloads_allowed"] is False
    listed = (await http.get(f"/api/recordings/{rec_a}", headers=as_staff)).json()
    assert listed["download_url"] is None and listed["media_url"] is not None
    shelf = (await http.get(f"/api/capsules/{capsule_a}")).json()
    assert shelf["download_url"] is None
    for path in (f"/api/recordings/{rec_a}/download", f"/api/capsules/{capsule_a}/download"):
        refused = await http.get(path, headers=as_staff)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert refused.json()["code"] == "downloads_off"
    assert (await http.get(f"/api/recordings/{rec_b}/download")).status_code == 200
    await eventually(lambda: _at_least(entries(action="download"), 2))
    assert hub.services.access_log is not None
    await hub.services.access_log.flush()
    downloads = await entries(action="download")
    assert [e["recording_id"] for e in downloads] == [rec_b, rec_a]


async def _at_least(pending: Any, count: int) -> list[Any] | None:
    items = list(await pending)
    return items if len(items) >= count else None
