"""Two hub nodes through a dead node and a Redis outage (issue 13, items 11 and 12), with real
hub processes and a real redis-server that the tests stop and start again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamhub.client import LessonClient
from streamhub.client.session import signaling_url
from streamhub.protocol import Slot
from tests.support.cluster import start_cluster, stop_cluster
from tests.support.hub import AdminApi, HubProcess
from tests.support.lecturer import lecturer_teaching
from tests.support.recordings import wait_recording
from tests.support.redis_server import RedisServer
from tests.support.wait import eventually

TTL_S = 6


@pytest.fixture
async def recording_cluster(
    tmp_path: Path,
) -> AsyncIterator[tuple[RedisServer, HubProcess, HubProcess]]:
    cluster = await start_cluster(tmp_path, TTL_S, STREAMHUB_RECORDER__THUMBNAIL_EVERY_S="5")
    try:
        yield cluster
    finally:
        await stop_cluster(*cluster)


async def test_a_dead_nodes_recording_is_finalized_by_the_node_that_ends_the_lesson(
    recording_cluster: tuple[RedisServer, HubProcess, HubProcess],
) -> None:
    _, a, b = recording_cluster
    on_a, on_b = AdminApi(a.url), AdminApi(b.url)
    lecturer = None
    try:
        lesson = await on_a.lesson(classrooms=1)  # started on node a: a records it
        lecturer = await lecturer_teaching(a.url, lesson.lecturer_token, 160, 120)

        await wait_recording(on_b.http, lesson.lesson_id, "recording", 20)
        await asyncio.sleep(4.0)
        await asyncio.to_thread(a.kill)
        await lecturer.close()
        lecturer = None
        await on_b.post(f"/api/lessons/{lesson.lesson_id}/end")
        ended = time.monotonic()

        rec = await wait_recording(on_b.http, lesson.lesson_id, "ready", 60)
        print(f"\ndead node: its recording finalized {time.monotonic() - ended:.1f}s after the end")
    finally:
        if lecturer is not None:
            await lecturer.close()
        await on_a.close()
        await on_b.close()
    assert rec["duration_s"] > 2.0, rec


def parse(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def test_with_redis_down_an_end_and_a_revocation_through_the_other_node_apply(
    recording_cluster: tuple[RedisServer, HubProcess, HubProcess],
) -> None:
    """Redis is down: the other node answers success once the catalog is written, and the
    lesson's node applies both from the catalog (its reconciliation), not waiting for Redis."""
    server, a, b = recording_cluster
    on_a, on_b = AdminApi(a.url), AdminApi(b.url)
    clients: list[LessonClient] = []
    try:
        lesson = await on_a.lesson(classrooms=2)  # held and recorded by node a
        lecturer = await lecturer_teaching(a.url, lesson.lecturer_token, 160, 120)
        clients.append(lecturer)
        rooms = []
        for credential in lesson.credentials:
            room = LessonClient(a.url, await on_a.device_token(credential))
            await room.connect({})
            clients.append(room)
            rooms.append(room)
        revoked_room, other_room = rooms
        await asyncio.wait_for(other_room.tracks[Slot.LECTURER_VIDEO].recv(), 10)
        credential_id = int(lesson.credentials[0].split("_")[1])
        await asyncio.to_thread(server.stop)
        # -- revoke through node b: success, and node a closes the classroom
        revoked_wall = time.time()
        response = await on_b.http.delete(f"/api/device-credentials/{credential_id}")
        assert response.status_code == 200, response.text
        revoked_at = time.monotonic()
        await eventually(lambda: revoked_room.closed is not None, timeout=20)
        revoke_applied = time.monotonic() - revoked_at
        assert revoked_room.closed is not None and revoked_room.closed.code == 4401
        assert other_room.closed is None, "the other classroom stays"
        # -- end through node b: success, and node a ends it and finalizes the recording
        response = await on_b.http.post(f"/api/lessons/{lesson.lesson_id}/end")
        assert response.status_code == 200, response.text
        ended_at = time.monotonic()
        await eventually(lambda: lecturer.closed is not None, timeout=20)
        end_applied = time.monotonic() - ended_at
        assert lecturer.closed is not None and lecturer.closed.code == 4410

        await wait_recording(on_b.http, lesson.lesson_id, "ready", 60)
        rows = (await on_b.http.get(f"/api/lessons/{lesson.lesson_id}/attendance")).json()
        await asyncio.to_thread(server.start)
    finally:
        for client in clients:
            await client.close()
        await on_a.close()
        await on_b.close()
    print(f"\nredis down: revocation applied in {revoke_applied:.1f}s, end in {end_applied:.1f}s")
    revoked_row = next(r for r in rows if r["classroom_id"] == lesson.classroom_ids[0])
    # The revoked classroom's attendance ends at the revocation, not when node a learnt of it.
    assert abs(parse(revoked_row["left_at"]) - revoked_wall) < 1.0, (revoked_row, revoked_wall)


async def test_after_redis_comes_back_the_nodes_catch_up_at_once(tmp_path: Path) -> None:
    """With the reconciliation timer far away, the catch-up after Redis returns is what
    applies an end made through the other node during the outage."""
    server, a, b = await start_cluster(
        tmp_path, TTL_S, STREAMHUB_RECONCILE_EVERY_S="300", STREAMHUB_RECORDER__ENABLED="false"
    )
    on_a, on_b = AdminApi(a.url), AdminApi(b.url)
    lecturer = None
    try:
        lesson = await on_a.lesson(classrooms=1)
        lecturer = await lecturer_teaching(a.url, lesson.lecturer_token, 160, 120)
        # The least loaded node took the lesson (the join may have been redirected to b): the
        # end goes through the other one.
        other = on_b if lecturer.url == signaling_url(a.url) else on_a
        await asyncio.to_thread(server.stop)
        response = await other.http.post(f"/api/lessons/{lesson.lesson_id}/end")
        assert response.status_code == 200, response.text
        await asyncio.sleep(TTL_S / 3 + 1)  # the lesson's node has seen Redis gone
        assert lecturer.closed is None, f"nothing told its node yet, yet closed: {lecturer.closed}"
        await asyncio.to_thread(server.start)
        back = time.monotonic()
        await eventually(lambda: lecturer.closed is not None, timeout=20)
        caught_up = time.monotonic() - back
    finally:
        if lecturer is not None:
            await lecturer.close()
        await on_a.close()
        await on_b.close()
        await stop_cluster(server, a, b)
    print(f"\nredis back: the end made during the outage applied {caught_up:.1f}s later")
    assert lecturer.closed is not None and lecturer.closed.code == 4410
