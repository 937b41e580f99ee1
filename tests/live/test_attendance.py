"""Attendance that tells the truth after a crash (issue 13, item 13): a session a hub crash
killed ends when it was last seen alive, not at the lesson's end; one classroom's overlapping
sessions count once; a revoked classroom's attendance ends at the revocation."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from streamhub.client import LessonClient
from streamhub.lesson.attendance import merge_overlaps
from tests.support.hub import AdminApi, HubProcess, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.wait import eventually

BEAT_S = 1.0  # attendance marked seen every second: a crash's sessions are stale after 3


def parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def attendance(admin: AdminApi, lesson_id: int) -> list[dict[str, Any]]:
    response = await admin.http.get(f"/api/lessons/{lesson_id}/attendance")
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_a_session_a_crash_killed_ends_when_it_was_last_seen(
    tmp_path: Path, database_url: str | None
) -> None:
    hub = HubProcess(tmp_path / "hub")
    hub.extra_env = {
        "STREAMHUB_ATTENDANCE_SEEN_EVERY_S": str(BEAT_S),
        "STREAMHUB_RECORDER__ENABLED": "false",
    }
    if database_url is not None:
        hub.extra_env["STREAMHUB_DATABASE_URL"] = database_url
    await asyncio.to_thread(hub.start)
    admin = AdminApi(hub.url)
    clients: list[LessonClient] = []
    try:
        lesson = await admin.lesson(classrooms=1)
        token = await admin.device_token(lesson.credentials[0])
        clients.append(await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120))
        classroom = LessonClient(hub.url, token)
        await classroom.connect({})
        clients.append(classroom)
        await asyncio.sleep(3 * BEAT_S)  # present a while: seen several times
        crashed = time.time()
        await asyncio.to_thread(hub.kill)
        for client in clients:
            await client.close()
        clients.clear()
        await asyncio.to_thread(hub.start)
        # Back after a while, and in the lesson again.
        await asyncio.sleep(4 * BEAT_S)
        clients.append(await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120))
        again = LessonClient(hub.url, token)
        await again.connect({})
        clients.append(again)
        rejoined = time.time()
        await asyncio.sleep(2 * BEAT_S)
        await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
        ended = time.time()
        rows = await eventually(lambda: _closed(admin, lesson.lesson_id), timeout=20, interval=0.3)
    finally:
        for client in clients:
            await client.close()
        await admin.close()
        await asyncio.to_thread(hub.stop)
    stretches = [r for r in rows if r["role"] == "classroom"]
    assert len(stretches) == 2, stretches
    first, second = stretches
    # The killed session ends within one beat (and the loop's slack) before the crash.
    assert crashed - BEAT_S - 1.5 <= parse(first["left_at"]) <= crashed + 0.5, (first, crashed)
    assert parse(second["joined_at"]) >= rejoined - 3.0
    assert abs(parse(second["left_at"]) - ended) < 3.0
    total = sum(r["duration_s"] for r in stretches)
    span = parse(second["left_at"]) - parse(first["joined_at"])
    assert total <= span, (total, span, "one classroom attended longer than the lesson")


async def _closed(admin: AdminApi, lesson_id: int) -> list[dict[str, Any]] | None:
    rows = await attendance(admin, lesson_id)
    return rows if rows and all(r["left_at"] for r in rows) else None


async def test_a_classroom_revoked_while_its_session_went_on_ends_at_the_revocation(
    tmp_path: Path, database_url: str | None
) -> None:
    """The revocation reached the catalog but not the session (another node did it while the
    nodes could not talk): at the lesson's end its attendance stops at the revocation."""
    async with InProcessHub(
        tmp_path / "hub", recorder={"enabled": False}, database_url=database_url
    ) as hub:
        admin = AdminApi(hub.url)
        clients: list[LessonClient] = []
        try:
            lesson = await admin.lesson(classrooms=1)
            clients.append(await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120))
            classroom = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
            await classroom.connect({})
            clients.append(classroom)
            await asyncio.sleep(1.0)
            room = hub.services.lessons.rooms[lesson.lesson_id]
            member = next(m for m in room.members.values() if m.role.value == "classroom")
            credential_id = member.grant.credential_id
            assert credential_id is not None
            revoked = await hub.services.catalog.revoke_credential(credential_id)
            await asyncio.sleep(2.0)  # the session goes on: this node never heard of it
            await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
            rows = await eventually(lambda: _closed(admin, lesson.lesson_id), timeout=20)
        finally:
            for client in clients:
                await client.close()
            await admin.close()
    row = next(r for r in rows if r["role"] == "classroom")
    assert abs(parse(row["left_at"]) - revoked.revoked_at.timestamp()) < 0.5, row


def test_overlapping_sessions_of_one_classroom_count_once() -> None:
    t0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

    def row(ident: int, room: int | None, start: float, end: float | None, q: float) -> Any:
        return SimpleNamespace(
            id=ident, participant_id=f"p{ident}", role="classroom" if room else "lecturer",
            name="x", classroom_id=room, joined_at=t0 + timedelta(seconds=start),
            left_at=None if end is None else t0 + timedelta(seconds=end), quality=q,
        )  # fmt: skip

    merged = merge_overlaps(
        [
            row(1, 7, 0, 61, 1.0),  # a session a crash left open until the lesson's end
            row(2, 7, 25, 61, 0.5),  # the same classroom, rejoined after the crash
            row(3, 8, 0, 10, 1.0),
            row(4, 8, 20, 30, 0.6),  # a real gap: two stretches
            row(5, None, 0, 40, 1.0),
            row(6, None, 30, None, 1.0),  # the lecturer, still there
        ]
    )
    by_room: dict[Any, list[Any]] = {}
    for stretch in merged:
        by_room.setdefault(stretch.classroom_id, []).append(stretch)
    assert [s.duration_s for s in by_room[7]] == [61.0]
    assert by_room[7][0].quality is not None and 0.5 < by_room[7][0].quality < 1.0
    assert [s.duration_s for s in by_room[8]] == [10.0, 10.0]
    assert [s.left_at for s in by_room[None]] == [None]
