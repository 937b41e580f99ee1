"""Wrong TURN settings give a clear doctor line (or a clear start-up error), never a hang:
an unreachable TURN server, a wrong shared secret, a TURN certificate the PC does not trust,
and TURN URLs the clients could not use. (Bad certificate files for the hub's own HTTPS are in
test_tls.py.) coturn runs confined to loopback; the hub runs in this process."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from classroom_agent.config import AgentConfig
from classroom_agent.doctor import FAIL, OK, WARN, Doctor, DoctorOptions, Line
from classroom_agent.media_sources import SourceSpec
from streamhub.config import load_settings
from streamhub.errors import ConfigError
from streamhub.tls import issue
from tests.support.coturn import Coturn
from tests.support.hub import AdminApi, InProcessHub
from tests.support.net import free_port
from tests.support.wait import eventually

pytestmark = pytest.mark.timeout(180)

SECRET = "the-right-secret-0123456789"


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    work = tmp_path_factory.mktemp("coturn")
    files = issue(work / "tls", ["localhost"], ["127.0.0.1"])
    relay = free_port()
    server = Coturn(
        None,
        "127.0.0.1",
        work,
        secret=SECRET,
        cert=files.cert,
        key=files.key,
        allowed_peers=["127.0.0.1"],
        port=free_port(),
        tls_port=free_port(),
        relay_ports=(relay, min(relay + 20, 65535)),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def hub_with(tmp_path: Path) -> AsyncIterator[object]:
    hubs: list[InProcessHub] = []

    async def start(turn_servers: list[dict[str, object]]) -> InProcessHub:
        hub = InProcessHub(
            tmp_path / f"hub{len(hubs)}",
            recorder={"enabled": False},
            ice={"turn_servers": turn_servers},
        )
        await hub.__aenter__()
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        await hub.__aexit__(None, None, None)


async def doctor_lines(hub: InProcessHub, ca: Path | None) -> dict[str, list[Line]]:
    admin = AdminApi(hub.url)
    try:
        lesson = await admin.lesson(classrooms=1, start=False)
    finally:
        await admin.close()
    config = AgentConfig(hub.url, lesson.credentials[0], str(ca) if ca else None)
    options = DoctorOptions(
        lang="en",
        video_source=SourceSpec("testpattern"),
        audio_source=SourceSpec("tone"),
        audio_output="none",
        display="none",
        ice_host_addresses=("127.0.0.1",),
        bandwidth_seconds=0.3,
    )
    # Whatever the TURN servers do, the doctor finishes: a generous bound, not a timing test.
    report = await asyncio.wait_for(Doctor(config, options).run(), 90)
    lines: dict[str, list[Line]] = {}
    for line in report.lines:
        lines.setdefault(line.check, []).append(line)
    return lines


async def test_wrong_secret_and_unreachable_turn_servers_get_clear_doctor_lines(
    coturn: Coturn, hub_with: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="streamhub.media.turn_check")
    dead_udp, dead_tcp = closed_udp_port(), free_port()
    hub = await hub_with(  # type: ignore[operator]
        [
            {"urls": coturn.urls, "credential": "not-the-secret-at-all"},
            {
                "urls": [
                    f"turn:127.0.0.1:{dead_udp}?transport=udp",
                    f"turns:127.0.0.1:{dead_tcp}?transport=tcp",
                ],
                "credential": SECRET,
            },
        ]
    )

    # The hub says so in its own log at start-up, too.
    def hub_warned() -> bool:
        return any(
            "TURN check" in r.message and "static-auth-secret" in r.message for r in caplog.records
        )

    await eventually(hub_warned, timeout=30)
    lines = await doctor_lines(hub, coturn.cert.with_name("ca.crt"))
    udp_lines = {x.detail.split(": ", 1)[0]: x for x in lines["turn_udp"]}
    tls_lines = {x.detail.split(": ", 1)[0]: x for x in lines["turn_tls"]}
    wrong_udp = udp_lines[f"TURN over UDP at 127.0.0.1:{coturn.port}"]
    wrong_tls = tls_lines[f"TURN over TLS at 127.0.0.1:{coturn.tls_port}"]
    for line in (wrong_udp, wrong_tls):
        assert line.status == FAIL and "refused the credentials (401)" in line.detail, line
    dead = udp_lines[f"TURN over UDP at 127.0.0.1:{dead_udp}"]
    assert dead.status in (WARN, FAIL) and ("no answer" in dead.detail or "refused" in dead.detail)
    refused = tls_lines[f"TURN over TLS at 127.0.0.1:{dead_tcp}"]
    assert refused.status == FAIL and "connection refused" in refused.detail, refused
    # Direct UDP still works on loopback, so the lesson can run; the bad settings still fail.
    assert lines["udp"][0].status == OK
    (verdict,) = lines["verdict"]
    assert verdict.status == FAIL and "other problems above" in verdict.detail


async def test_the_right_secret_works_and_an_untrusted_turn_certificate_is_named(
    coturn: Coturn, hub_with: object
) -> None:
    hub = await hub_with([{"urls": coturn.urls, "credential": SECRET}])  # type: ignore[operator]
    trusted = await doctor_lines(hub, coturn.cert.with_name("ca.crt"))
    assert [x.status for x in trusted["turn_udp"] + trusted["turn_tls"]] == [OK, OK], trusted
    assert trusted["verdict"][0].status == OK
    # Without the school's CA the TLS relay's certificate is not trusted: said so plainly.
    untrusted = await doctor_lines(hub, None)
    (tls,) = untrusted["turn_tls"]
    assert tls.status == FAIL and "certificate is not trusted" in tls.detail, tls


def test_turn_urls_clients_cannot_use_stop_the_hub_at_start_up(tmp_path: Path) -> None:
    bad = {
        "turns:turn.example:443?transport=udp": "turns:HOST:PORT?transport=tcp",
        "stun:turn.example": "is not a TURN URL",
        "turn:turn.example:70000": "port out of range",
    }
    for url, message in bad.items():
        servers = [{"urls": [url], "credential": "x"}]
        with pytest.raises(ConfigError, match=r"ice\.turn_servers") as caught:
            load_settings(None, data_dir=tmp_path, ice={"turn_servers": servers})
        assert message in str(caught.value)
    with pytest.raises(ConfigError, match="credential is required"):
        load_settings(None, data_dir=tmp_path, ice={"turn_servers": [{"urls": ["turn:t:3478"]}]})
