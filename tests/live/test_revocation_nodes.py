"""A lecturer link revoked through one hub node closes the lecturer's session on the node that
holds the lesson (two real nodes, one real Redis), as device credentials already do; with
Redis down, through that node's reconciliation against the catalog."""

from __future__ import annotations

import asyncio

import pytest

from streamhub.client.events import Closed
from tests.live.test_redis_nodes import cluster  # noqa: F401  (the two-node fixture)
from tests.support.hub import AdminApi, HubProcess
from tests.support.lecturer import lecturer_teaching
from tests.support.redis_server import RedisServer
from tests.support.wait import eventually


@pytest.mark.parametrize("redis", ["up", "down"])
async def test_revoking_a_link_on_one_node_closes_the_session_on_the_other(
    cluster: tuple[RedisServer, HubProcess, HubProcess],  # noqa: F811
    redis: str,
) -> None:
    server, a, b = cluster
    on_a, on_b = AdminApi(a.url), AdminApi(b.url)
    lecturer = None
    try:
        lesson = await on_a.lesson(classrooms=0)  # started on node a: a holds it
        lecturer = await lecturer_teaching(a.url, lesson.lecturer_token, 160, 120)
        assert lecturer.url.startswith(f"ws://127.0.0.1:{a.port}")
        links = (await on_b.http.get("/api/tokens", params={"lesson_id": lesson.lesson_id})).json()
        (link,) = links
        if redis == "down":
            await asyncio.to_thread(server.stop)
        assert (await on_b.http.delete(f"/api/tokens/{link['id']}")).status_code == 200
        closed: Closed = await eventually(lambda: lecturer.closed, 15)
        assert closed.code == 4401, closed
    finally:
        if lecturer is not None:
            await lecturer.close()
        await on_a.close()
        await on_b.close()
