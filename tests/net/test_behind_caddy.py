"""The hub behind Caddy, with the Caddyfile of configs/compose.yaml (Debian's `caddy`): a
plain-HTTP hub node, Caddy on the LAN's proxy address serving HTTPS with the `streamhub tls
init` certificate. From the UDP-blocked school, `classroom-agent doctor` gets through the proxy
(HTTPS, the WebSocket upgrade, the bandwidth probe) and to TURN over TLS; plain HTTP that
reaches the node from another machine, not through Caddy, is sent to the https:// address.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from classroom_agent.config import AgentConfig, save_config
from tests.net.conftest import County, child_env
from tests.support.county import TURN_SECRET, plain_hub
from tests.support.hub import AdminApi

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CADDY = shutil.which("caddy") or "/usr/bin/caddy"
CADDYFILE = Path(__file__).resolve().parents[2] / "configs" / "Caddyfile"
NODE_PORT = 8001


@pytest.fixture
def behind_caddy(county: County, tmp_path: Path) -> Iterator[str]:
    """A plain hub node on the hub's address, port 8001, and Caddy in front of it on the
    proxy address; yields the https:// address classrooms use."""
    lan = county.lan
    public = f"https://{lan.proxy_address}"
    node = plain_hub(
        lan.hub,
        tmp_path / "node",
        NODE_PORT,
        STREAMHUB_PUBLIC_URL=public,
        STREAMHUB_TLS__TRUSTED_PROXIES=f'["{lan.hub.address}", "{lan.proxy_address}"]',
        STREAMHUB_ICE__TURN_SERVERS=county.hub.env["STREAMHUB_ICE__TURN_SERVERS"],
    )
    assert TURN_SECRET in node.env["STREAMHUB_ICE__TURN_SERVERS"]
    node.start()
    # The repository's Caddyfile, imported under a few test-only global options.
    wrapper = tmp_path / "Caddyfile"
    wrapper.write_text(
        "{\n"
        f"\tdefault_bind {lan.proxy_address}\n"
        "\tadmin off\n"
        f"\tstorage file_system {tmp_path / 'caddy-data'}\n"
        "}\n"
        f"import {CADDYFILE}\n"
    )
    env = child_env(
        HOME=str(tmp_path),
        HUB_NAME=lan.proxy_address,
        HUB_TLS=f"{county.cert} {county.key}",
        HUB_1_UPSTREAM=f"{lan.hub.address}:{NODE_PORT}",
        HUB_2_UPSTREAM=f"{lan.hub.address}:{NODE_PORT}",
    )
    # Caddy writes to its own copy of the descriptor: ours is closed once it runs.
    with (tmp_path / "caddy.log").open("ab") as log:
        caddy = subprocess.Popen(
            [*lan.hub.exec_prefix(), CADDY, "run", "--config", str(wrapper), "--adapter",
             "caddyfile"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while f"{lan.proxy_address}:443" not in lan.hub.run("ss", "-Hltn", check=False):
            assert caddy.poll() is None, (tmp_path / "caddy.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "caddy did not listen"
            time.sleep(0.1)
        yield public
    finally:
        if caddy.poll() is None:
            os.killpg(caddy.pid, signal.SIGTERM)
            caddy.wait(15)
        node.stop()


async def test_doctor_gets_through_caddy_and_plain_http_is_sent_to_https(
    county: County, behind_caddy: str, tmp_path: Path
) -> None:
    lan = county.lan
    # A request that reached the node without the proxy (from another machine, plain HTTP).
    async with httpx.AsyncClient(timeout=10) as http:
        direct = await http.get(f"http://{lan.hub.address}:{NODE_PORT}/lesson/ABC?lang=en")
    assert direct.status_code == 308
    assert direct.headers["location"] == f"{behind_caddy}/lesson/ABC?lang=en"

    admin = AdminApi(f"http://{lan.hub.address}:{NODE_PORT}")
    try:
        # The admin API from here is plain HTTP from another machine too: it is redirected.
        moved = await admin.http.get("/api/schools")
        assert moved.status_code == 308
        plain = admin.http
        await plain.aclose()  # its connection to the node would be left open otherwise
        admin.http = httpx.AsyncClient(
            base_url=behind_caddy,
            headers=plain.headers,
            timeout=15,
            verify=county.ssl_context,
        )
        lesson = await admin.lesson(classrooms=1)
    finally:
        await admin.close()

    await asyncio.to_thread(lan.block_udp, lan.school)
    try:
        config = tmp_path / "agent.json"
        save_config(AgentConfig(behind_caddy, lesson.credentials[0], str(county.ca)), config)
        doctor = await asyncio.create_subprocess_exec(
            *lan.school.exec_prefix(), sys.executable,
            "-m", "classroom_agent", "--config", str(config), "doctor", "--lang", "en",
            "--video-source", "testpattern", "--audio-source", "tone", "--audio-output", "none",
            "--display", "none", "--bandwidth-seconds", "1",
            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(doctor.communicate(), 90)
    finally:
        await asyncio.to_thread(lan.unblock, lan.school)
    report = out.decode()
    lines = {line[7:19].strip(): line for line in report.splitlines() if line.startswith("[")}
    assert doctor.returncode == 0, report
    assert "certificate trusted" in lines["HTTPS"], report
    assert "[ OK ]" in lines["WebSocket"], report
    assert "[ OK ]" in lines["Download"] and "[ OK ]" in lines["Upload"], report
    assert "UDP blocked, TURN over TLS works" in lines["Verdict"], report
