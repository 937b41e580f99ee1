"""The agent survives a hub crash and a captive portal, and stops for good on a revoked
credential."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from classroom_agent.agent import ClassroomAgent
from classroom_agent.config import AgentConfig, save_config
from classroom_agent.errors import CredentialRevoked, HubUnavailable
from classroom_agent.hub_api import DeviceApi
from streamhub.client import LessonClient
from tests.agent.conftest import (
    HEADLESS,
    ROOT,
    SYNTHETIC,
    agent_command,
    agent_env,
    fast_options,
    revoke,
)
from tests.support.hub import AdminApi, HubProcess, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.wait import eventually


async def test_agent_receives_again_within_15s_of_a_killed_hub_coming_back(
    tmp_path: Path,
) -> None:
    hub = HubProcess(tmp_path / "hub", extra_env={"STREAMHUB_RECORDER__ENABLED": "false"})
    await asyncio.to_thread(hub.start)
    admin = AdminApi(hub.url)
    lecturer: LessonClient | None = None
    agent: ClassroomAgent | None = None
    task: asyncio.Task[None] | None = None
    try:
        lesson = await admin.lesson(classrooms=1)
        lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120)
        agent = ClassroomAgent(AgentConfig(hub.url, lesson.credentials[0]), fast_options())
        task = asyncio.create_task(agent.run_schedule())
        await eventually(lambda: agent.meter.packets["video"] > 30, timeout=20)

        hub.kill()
        await lecturer.close()
        await eventually(lambda: agent.status.state.value == "reconnecting", timeout=10)

        await asyncio.to_thread(hub.start)
        lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120)
        before = agent.meter.packets["video"]
        await eventually(lambda: agent.meter.packets["video"] > before + 30, timeout=15)
        assert agent.sessions >= 2
        assert agent.status.state.value == "in_lesson"
    finally:
        if agent is not None and task is not None:
            agent.stop()
            await asyncio.wait_for(task, 20)
        if lecturer is not None:
            await lecturer.close()
        await admin.close()
        await asyncio.to_thread(hub.stop)


async def test_a_revoked_credential_stops_the_agent_with_a_clear_message(
    hub: InProcessHub, admin: AdminApi, tmp_path: Path
) -> None:
    lesson = await admin.lesson(classrooms=1)
    await revoke(admin, lesson.classroom_ids[0])
    config = tmp_path / "agent.json"
    save_config(AgentConfig(hub.url, lesson.credentials[0]), config)
    agent = await asyncio.create_subprocess_exec(
        *agent_command(config, "run", *SYNTHETIC, *HEADLESS),
        env=agent_env(),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(agent.communicate(), 20)
    assert agent.returncode == 3
    assert b"credential" in stderr and b"revoked" in stderr


async def test_revocation_during_a_lesson_stops_without_a_retry_loop(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1)
    lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120)
    agent = ClassroomAgent(AgentConfig(hub.url, lesson.credentials[0]), fast_options())
    task = asyncio.create_task(agent.run_schedule())
    try:
        await eventually(lambda: agent.meter.packets["video"] > 10, timeout=20)
        requests = agent.api.requests
        await revoke(admin, lesson.classroom_ids[0])
        with pytest.raises(CredentialRevoked):
            await asyncio.wait_for(task, 15)
        assert agent.api.requests - requests <= 2
        assert agent.status.state.value == "revoked"
    finally:
        if not task.done():
            agent.stop()
            await asyncio.gather(task, return_exceptions=True)
        await lecturer.close()


async def test_a_captive_portals_page_is_an_unavailable_hub_not_a_crash() -> None:
    """A school network that answers every request with its sign-in page (200, HTML)."""
    page = b"<html><body>Sign in to the school Wi-Fi</body></html>"

    async def portal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(page)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + page)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(portal, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    api = DeviceApi(f"http://127.0.0.1:{port}", "dc_1_portal")
    try:
        with pytest.raises(HubUnavailable, match="not the hub's answer"):
            await api.lessons()
    finally:
        await api.close()
        server.close()
        await server.wait_closed()
