"""A live lesson's invitations changed through one hub node take effect on the node that holds
the lesson (two real nodes, one real Redis): the registry publishes the change, the holder
applies it; with Redis down, the holder's reconciliation against the catalog does."""

from __future__ import annotations

import asyncio

import pytest

from streamhub.client import LessonClient
from streamhub.client.events import Closed
from streamhub.protocol import CLOSE_CODES, ErrorCode
from tests.live.test_redis_nodes import cluster  # noqa: F401  (the two-node fixture)
from tests.support.hub import AdminApi, HubProcess
from tests.support.redis_server import RedisServer
from tests.support.wait import eventually


@pytest.mark.parametrize("redis", ["up", "down"])
async def test_uninviting_a_classroom_on_one_node_closes_its_session_on_the_other(
    cluster: tuple[RedisServer, HubProcess, HubProcess],  # noqa: F811
    redis: str,
) -> None:
    server, a, b = cluster
    on_a, on_b = AdminApi(a.url), AdminApi(b.url)
    clients: list[LessonClient] = []
    try:
        lesson = await on_a.lesson(classrooms=2)  # started on node a: a holds it
        for credential in lesson.credentials:
            client = LessonClient(a.url, await on_a.device_token(credential))
            clients.append(client)
            await client.connect({})
            assert client.url.startswith(f"ws://127.0.0.1:{a.port}")
        dropped, kept = clients
        if redis == "down":
            await asyncio.to_thread(server.stop)
        patched = await on_b.http.patch(
            f"/api/lessons/{lesson.lesson_id}",
            json={"classroom_ids": [lesson.classroom_ids[1]]},
        )
        assert patched.status_code == 200, patched.text
        closed: Closed = await eventually(lambda: dropped.closed, 15)
        assert closed.code == CLOSE_CODES[ErrorCode.NOT_INVITED], closed
        assert "no longer invited" in closed.reason

        # The classroom still invited stays: node a's room holds the new invitations.
        async def classrooms_on_a() -> bool:
            response = await on_a.http.get(f"/api/lessons/{lesson.lesson_id}/participants")
            present = [p["classroom_id"] for p in response.json() if p["role"] == "classroom"]
            return present == [lesson.classroom_ids[1]]

        await eventually(classrooms_on_a, 15)
        assert kept.closed is None
    finally:
        for client in clients:
            await client.close()
        await on_a.close()
        await on_b.close()
