"""`ice.udp_port_range`: every media socket of the hub is in the range, so a firewall opens that
range and nothing else. A real hub subprocess on loopback, a lecturer and ten classrooms; the
hub's sockets are read from /proc (its file descriptors mapped to the kernel's UDP table)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

import pytest

from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack
from streamhub.media.aiortc_hooks import PortRangeExhausted, bind_udp_in_range
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, HubProcess
from tests.support.lecturer import lecturer_teaching
from tests.support.wait import eventually

pytestmark = pytest.mark.timeout(240)

CLASSROOMS = 10
RANGE = (47100, 47139)


def udp_ports_of(pid: int) -> list[int]:
    """Local ports of every UDP socket the process holds (IPv4 and IPv6)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = []
    for table in ("udp", "udp6"):
        with open(f"/proc/{pid}/net/{table}") as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[9] in inodes:
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def test_every_media_socket_of_a_ten_classroom_lesson_is_in_the_range(
    tmp_path: Path,
) -> None:
    hub = HubProcess(
        tmp_path / "hub",
        extra_env={
            "STREAMHUB_ICE__UDP_PORT_RANGE": f"{RANGE[0]}-{RANGE[1]}",
            "STREAMHUB_RECORDER__ENABLED": "false",
            "STREAMHUB_SIGNALING__JOINS_PER_MINUTE": "1000",
        },
    )
    await asyncio.to_thread(hub.start)
    admin = AdminApi(hub.url)
    clients: list[LessonClient] = []
    try:
        lesson = await admin.lesson(classrooms=CLASSROOMS)
        clients.append(await lecturer_teaching(hub.url, lesson.lecturer_token))
        for credential in lesson.credentials:
            room = LessonClient(hub.url, await admin.device_token(credential))
            clients.append(room)
            await room.connect({Slot.CAMERA: PatternVideoTrack(160, 120, fps=5)})
        # Media flows on every leg: each classroom gets the lecturer's video.
        for room in clients[1:]:
            packet = await asyncio.wait_for(room.tracks[Slot.LECTURER_VIDEO].recv(), 20)
            assert packet is not None
        assert all(c.pc is not None and c.pc.connectionState == "connected" for c in clients)

        assert hub.proc is not None
        ports = await eventually(lambda: udp_ports_of(hub.proc.pid), timeout=10)
        # One bundled socket per participant (one host address): at least eleven.
        assert len(ports) >= CLASSROOMS + 1, ports
        outside = [p for p in ports if not RANGE[0] <= p <= RANGE[1]]
        assert outside == [], f"hub UDP sockets outside {RANGE}: {outside} (all: {ports})"
    finally:
        for client in clients:
            await client.close()
        await admin.close()
        await asyncio.to_thread(hub.stop)


def test_a_full_range_is_a_clear_error_not_a_random_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        first = probe.getsockname()[1]
    held = []
    try:
        while len(held) < 3:
            held.append(bind_udp_in_range("127.0.0.1", (first, first + 2)))
        assert sorted(s.getsockname()[1] for s in held) == [first, first + 1, first + 2]
        with pytest.raises(PortRangeExhausted, match="widen the range"):
            bind_udp_in_range("127.0.0.1", (first, first + 2))
    finally:
        for sock in held:
            sock.close()
