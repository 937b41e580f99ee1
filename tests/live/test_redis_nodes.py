"""Two hub nodes over one real Redis: signaling reaches the lesson's node, a dead node's
lesson moves, and a Redis restart loses nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from classroom_agent.agent import ClassroomAgent
from classroom_agent.config import AgentConfig
from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import ToneAudioTrack
from streamhub.protocol import Slot
from tests.agent.conftest import fast_options
from tests.support.cluster import start_cluster, stop_cluster
from tests.support.hub import AdminApi, HubProcess
from tests.support.lecturer import lecturer_teaching
from tests.support.redis_server import RedisServer
from tests.support.wait import eventually

TTL_S = 6


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[RedisServer, HubProcess, HubProcess]]:
    running = await start_cluster(tmp_path, TTL_S, STREAMHUB_RECORDER__ENABLED="false")
    try:
        yield running
    finally:
        await stop_cluster(*running)


async def test_a_classroom_connecting_through_the_other_node_gets_the_lessons_media(
    cluster: tuple[RedisServer, HubProcess, HubProcess],
) -> None:
    _, a, b = cluster
    admin = AdminApi(a.url)
    lecturer = classroom = None
    try:
        lesson = await admin.lesson(classrooms=1)  # started on node a: a holds its media
        lecturer = await lecturer_teaching(a.url, lesson.lecturer_token, 160, 120)
        assert lecturer.url.startswith(f"ws://127.0.0.1:{a.port}")
        classroom = LessonClient(b.url, await admin.device_token(lesson.credentials[0]))
        await classroom.connect({Slot.MICROPHONE: ToneAudioTrack()})
        # Signaling was redirected to the lesson's node; media flows from there.
        assert classroom.url.startswith(f"ws://127.0.0.1:{a.port}")
        decoder = FrameDecoder("VP8")
        frames = []
        while not frames:
            packet = await asyncio.wait_for(classroom.tracks[Slot.LECTURER_VIDEO].recv(), 5)
            frames = decoder.decode(packet)
        assert (frames[0].width, frames[0].height) == (160, 120)
        # Node b answers for the lesson from the shared snapshot.
        async with httpx.AsyncClient(base_url=b.url, headers=admin.http.headers) as http:

            async def listed() -> bool:
                people = (await http.get(f"/api/lessons/{lesson.lesson_id}/participants")).json()
                return sorted(p["role"] for p in people) == ["classroom", "lecturer"]

            assert await eventually(listed, timeout=10)
        metrics = (await admin.http.get("/metrics")).text
        assert "streamhub_" in metrics
    finally:
        for client in (classroom, lecturer):
            if client is not None:
                await client.close()
        await admin.close()


async def test_a_dead_nodes_lesson_moves_and_the_agent_rejoins_by_itself(
    cluster: tuple[RedisServer, HubProcess, HubProcess],
) -> None:
    _, a, b = cluster
    admin = AdminApi(b.url)
    lecturer = None
    agent = task = None
    try:
        # Made through node a; its client is closed before a is killed.
        admin_a = AdminApi(a.url)
        try:
            lesson = await admin_a.lesson(classrooms=1)
        finally:
            await admin_a.close()
        lecturer = await lecturer_teaching(a.url, lesson.lecturer_token, 160, 120)
        # The agent knows node b only (as it would know a load balancer's address).
        agent = ClassroomAgent(AgentConfig(b.url, lesson.credentials[0]), fast_options())
        task = asyncio.create_task(agent.run_schedule())
        await eventually(lambda: agent.meter.packets["video"] > 30, timeout=20)

        a.kill()
        killed = time.monotonic()
        await lecturer.close()
        # The lecturer's page reconnects through the address it knows: node b.
        lecturer = None
        for _ in range(100):
            try:
                lecturer = await lecturer_teaching(b.url, lesson.lecturer_token, 160, 120)
                break
            except Exception:
                await asyncio.sleep(0.5)
        assert lecturer is not None, "the lesson never moved to node b"
        assert lecturer.url.startswith(f"ws://127.0.0.1:{b.port}")
        before = agent.meter.packets["video"]
        await eventually(lambda: agent.meter.packets["video"] > before + 30, timeout=20)
        moved_in = time.monotonic() - killed
        print(f"node failure: lesson moved and agent receiving again after {moved_in:.1f}s")
        assert moved_in < 15 + TTL_S
    finally:
        if agent is not None and task is not None:
            agent.stop()
            await asyncio.wait_for(task, 20)
        if lecturer is not None:
            await lecturer.close()
        await admin.close()


async def test_redis_restart_nodes_reregister_and_no_lesson_is_lost(
    cluster: tuple[RedisServer, HubProcess, HubProcess],
) -> None:
    server, a, b = cluster
    admin = AdminApi(a.url)
    lecturer = classroom = None
    try:
        lesson = await admin.lesson(classrooms=1)
        lecturer = await lecturer_teaching(a.url, lesson.lecturer_token, 160, 120)
        classroom = LessonClient(a.url, await admin.device_token(lesson.credentials[0]))
        await classroom.connect({})
        await asyncio.wait_for(classroom.tracks[Slot.LECTURER_VIDEO].recv(), 5)
        await asyncio.to_thread(server.stop)
        async with httpx.AsyncClient(timeout=5) as http:
            # Liveness holds; readiness says the shared state is gone.
            assert (await http.get(f"{a.url}/healthz")).status_code == 200

            async def not_ready() -> bool:
                return (await http.get(f"{a.url}/readyz")).status_code == 503

            assert await eventually(not_ready, timeout=10)
            # The live lesson goes on on its node: the classroom keeps receiving.
            for _ in range(30):
                await asyncio.wait_for(classroom.tracks[Slot.LECTURER_VIDEO].recv(), 5)
            await asyncio.to_thread(server.start)

            async def ready() -> bool:
                codes = [(await http.get(f"{n.url}/readyz")).status_code for n in (a, b)]
                return codes == [200, 200]

            assert await eventually(ready, timeout=15)
        r = aioredis.from_url(server.url, decode_responses=True)
        try:

            async def registered() -> bool:
                keys = {k async for k in r.scan_iter(match="streamhub:node:*")}
                return {"streamhub:node:a", "streamhub:node:b"} <= keys

            assert await eventually(registered, timeout=TTL_S * 2)
            owner = await r.get(f"streamhub:lesson:{lesson.lesson_id}:owner")
            assert owner == "a", "the lesson's node claims it again"
        finally:
            await r.aclose()
        got = (await admin.http.get(f"/api/lessons/{lesson.lesson_id}")).json()
        assert got["status"] == "live"
        # A new lesson is accepted afterwards.
        second = await admin.lesson(classrooms=1)
        newcomer = LessonClient(b.url, await admin.device_token(second.credentials[0]))
        await newcomer.connect({})
        await newcomer.close()
    finally:
        for client in (classroom, lecturer):
            if client is not None:
                await client.close()
        await admin.close()


async def test_lessons_going_live_together_are_spread_over_the_nodes(
    cluster: tuple[RedisServer, HubProcess, HubProcess],
) -> None:
    server, a, _ = cluster
    admin = AdminApi(a.url)
    r = aioredis.from_url(server.url, decode_responses=True)
    try:
        # Faster than a heartbeat: the load a claim adds must count at once.
        lessons = [await admin.lesson(classrooms=0) for _ in range(4)]
        owners = [await r.get(f"streamhub:lesson:{x.lesson_id}:owner") for x in lessons]
        counts = {node: owners.count(node) for node in ("a", "b")}
        assert counts["a"] >= 1 and counts["b"] >= 1, owners
        assert sum(counts.values()) == 4, owners
    finally:
        await r.aclose()
        await admin.close()
