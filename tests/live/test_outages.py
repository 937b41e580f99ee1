"""Two hub nodes through a dead node and a Redis outage (issue 13, items 11 and 12), with real
hub processes and a real redis-server that the tests stop and start again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.hub import AdminApi, HubProcess
from tests.support.lecturer import lecturer_teaching
from tests.support.redis_server import RedisServer
from tests.support.wait import eventually

TTL_S = 6


async def start_cluster(tmp_path: Path, **env: str) -> tuple[RedisServer, HubProcess, HubProcess]:
    server = RedisServer(tmp_path / "redis")
    await asyncio.to_thread(server.start)
    nodes = []
    for name in ("a", "b"):
        node = HubProcess(tmp_path / "hub")  # one catalog and recordings folder, shared
        node.extra_env = {
            "STREAMHUB_REDIS_URL": server.url,
            "STREAMHUB_NODE_ID": name,
            "STREAMHUB_PUBLIC_URL": node.url,
            "STREAMHUB_LIVE_TTL_S": str(TTL_S),
            "STREAMHUB_SIGNALING__JOINS_PER_MINUTE": "1000",
            **env,
        }
        await asyncio.to_thread(node.start)  # one at a time: the first migrates the catalog
        nodes.append(node)
    return server, nodes[0], nodes[1]


async def stop_cluster(server: RedisServer, *nodes: HubProcess) -> None:
    for node in nodes:
        await asyncio.to_thread(node.stop)
    await asyncio.to_thread(server.stop)


@pytest.fixture
async def recording_cluster(
    tmp_path: Path,
) -> AsyncIterator[tuple[RedisServer, HubProcess, HubProcess]]:
    cluster = await start_cluster(tmp_path, STREAMHUB_RECORDER__THUMBNAIL_EVERY_S="5")
    try:
        yield cluster
    finally:
        await stop_cluster(*cluster)


async def recording_of(admin: AdminApi, lesson_id: int) -> dict[str, Any] | None:
    page = (await admin.http.get("/api/recordings", params={"limit": 200})).json()
    return next((r for r in page["items"] if r["lesson_id"] == lesson_id), None)


async def test_a_dead_nodes_recording_is_finalized_by_the_node_that_ends_the_lesson(
    recording_cluster: tuple[RedisServer, HubProcess, HubProcess],
) -> None:
    _, a, b = recording_cluster
    on_a, on_b = AdminApi(a.url), AdminApi(b.url)
    lecturer = None
    try:
        lesson = await on_a.lesson(classrooms=1)  # started on node a: a records it
        lecturer = await lecturer_teaching(a.url, lesson.lecturer_token, 160, 120)

        async def recording() -> bool:
            rec = await recording_of(on_b, lesson.lesson_id)
            return rec is not None and rec["state"] == "recording"

        await eventually(recording, timeout=20)
        await asyncio.sleep(4.0)
        await asyncio.to_thread(a.kill)
        await lecturer.close()
        lecturer = None
        await on_b.post(f"/api/lessons/{lesson.lesson_id}/end")
        ended = time.monotonic()

        async def ready() -> dict[str, Any] | None:
            rec = await recording_of(on_b, lesson.lesson_id)
            assert rec is not None and rec["state"] != "failed", rec
            return rec if rec["state"] == "ready" else None

        rec = await eventually(ready, timeout=60, interval=0.5)
        print(f"\ndead node: its recording finalized {time.monotonic() - ended:.1f}s after the end")
    finally:
        if lecturer is not None:
            await lecturer.close()
        await on_a.close()
        await on_b.close()
    assert rec["duration_s"] > 2.0, rec
