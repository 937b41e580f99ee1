"""Crafted UDP datagrams at the hub's media ports during a live lesson: nobody is lost."""

from __future__ import annotations

import asyncio
import os
import re
import socket

from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack, read_counter
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching


def hub_ports(client: LessonClient) -> set[int]:
    assert client.pc is not None and client.pc.remoteDescription is not None
    sdp = client.pc.remoteDescription.sdp
    return {
        int(p) for p in re.findall(r"a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 (\d+) typ host", sdp)
    }


def crafted_datagrams() -> list[tuple[str, bytes]]:
    client_hello = bytes.fromhex("16fefd000000000000000000") + os.urandom(100)
    garbage_srtp = bytes([0x80, 0x60]) + os.urandom(10) + os.urandom(200)
    garbage_rtcp = bytes([0x80, 0xC8]) + os.urandom(60)
    stun_like = bytes([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42]) + os.urandom(12)
    return [
        ("zero-length", b""),
        ("oversize", os.urandom(1600)),
        ("jumbo", os.urandom(9000)),
        ("garbage SRTP", garbage_srtp),
        ("garbage SRTCP", garbage_rtcp),
        ("DTLS ClientHello from an unvalidated address", client_hello),
        ("bad STUN", stun_like),
        ("random", os.urandom(64)),
    ]


async def newest_counter(client: LessonClient, decoder: FrameDecoder) -> int:
    best = -1
    for _ in range(10):
        packet = await asyncio.wait_for(client.tracks[Slot.LECTURER_VIDEO].recv(), 5)
        for frame in decoder.decode(packet):
            best = max(best, read_counter(frame))
    return best


async def test_crafted_datagrams_lose_no_session_and_frames_keep_flowing(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1)
    lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token)
    classroom = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
    await classroom.connect({Slot.CAMERA: PatternVideoTrack(160, 120)})
    decoder = FrameDecoder("VP8")
    room = hub.services.lessons.rooms[lesson.lesson_id]
    try:
        before = await newest_counter(classroom, decoder)
        ports = hub_ports(classroom) | hub_ports(lecturer)
        assert ports
        sent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            for _ in range(50):
                for _name, payload in crafted_datagrams():
                    for port in ports:
                        sock.sendto(payload, ("127.0.0.1", port))
                        sent += 1
                await asyncio.sleep(0.01)
        assert sent >= 50 * 8
        after = await newest_counter(classroom, decoder)
        assert after > before
        assert len(room.members) == 2
        assert all(m.peer.connection_state == "connected" for m in room.members.values())
    finally:
        await classroom.close()
        await lecturer.close()
