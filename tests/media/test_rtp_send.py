"""The hub's own send path (streamhub.media.rtp_send): packetized once, NACKs answered per
classroom over RTX, through a real hub."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from pathlib import Path

import pytest
from aiortc import clock as aiortc_clock
from pylibsrtp import Error as SrtpError
from pylibsrtp import Policy, Session

from streamhub.client import LessonClient
from streamhub.client.clip import ClipTrack, encode_audio_clip, encode_video_clip
from streamhub.media import aiortc_hooks, rtp_send
from streamhub.media.clock import abs_send_time, ntp_ms, ntp_now
from streamhub.media.forwarder import OutTrack
from streamhub.media.rtp_receive import FastPath
from streamhub.media.rtp_send import fast_sendto, packetize
from streamhub.media.srtp import protector, rtcp_unprotector, unprotector
from streamhub.protocol import Slot
from tests.support.frames import FrameRun
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually


def test_a_frame_is_packetized_once_into_payloads_under_the_mtu() -> None:
    frame = bytes(range(256)) * 20  # 5,120 bytes
    vp8 = packetize("video/VP8", frame)
    assert vp8.vp8 and b"".join(vp8.parts) == frame
    assert all(len(p) + 4 <= 1300 for p in vp8.parts) and len(vp8.parts) == 4
    opus = packetize("audio/opus", b"\x01\x02")
    assert opus.parts == [b"\x01\x02"] and not opus.vp8


def test_our_srtp_calls_protect_and_unprotect_as_pylibsrtp_does() -> None:
    key = os.urandom(30)

    def session(direction: int) -> Session:
        return Session(Policy(key=key, ssrc_type=direction))

    ours, theirs = protector(session(Policy.SSRC_ANY_OUTBOUND)), session(Policy.SSRC_ANY_OUTBOUND)
    receiver = session(Policy.SSRC_ANY_INBOUND)
    our_receiver = unprotector(session(Policy.SSRC_ANY_INBOUND))
    for seq, size in enumerate((0, 1, 700, 1300)):
        packet = struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 1234) + os.urandom(size)
        protected = ours(packet)
        assert protected == theirs.protect(packet)  # same keys, same packet index
        assert receiver.unprotect(protected) == packet
        assert our_receiver(protected) == packet
        with pytest.raises(SrtpError):
            our_receiver(protected)  # a replay
        with pytest.raises(SrtpError):
            damaged = bytearray(theirs.protect(packet[:2] + bytes([0, 99]) + packet[4:]))
            damaged[-1] ^= 1
            our_receiver(bytes(damaged))  # fails authentication
    rtcp = struct.pack("!BBHI", 0x80, 200, 1, 1234) + os.urandom(20)
    assert rtcp_unprotector(session(Policy.SSRC_ANY_INBOUND))(theirs.protect_rtcp(rtcp)) == rtcp
    with pytest.raises(ValueError):
        ours(b"\x80" * 1500)  # no room for the SRTP trailer in the session's buffer


async def test_the_fast_sendto_sends_in_order_and_leaves_other_transports_alone() -> None:
    loop = asyncio.get_running_loop()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(10)
    udp, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        sendto = fast_sendto(udp)
        assert sendto != udp.sendto
        for n in range(3):
            sendto(bytes([n]) * 10, sink.getsockname())
        assert [sink.recv(100)[0] for _ in range(3)] == [0, 1, 2]
        # Something waits in asyncio's buffer: what follows queues behind it, in order.
        udp._buffer.append((b"\x07" * 10, sink.getsockname()))  # type: ignore[attr-defined]
        sendto(b"\x08" * 10, sink.getsockname())
        assert [entry[0][0] for entry in udp._buffer] == [7, 8]  # type: ignore[attr-defined]
        udp._buffer.clear()  # type: ignore[attr-defined]
    finally:
        udp.close()
        sink.close()

    class RelayTransport:  # a TURN relay's transport: no socket of its own
        def sendto(self, data: bytes, addr: object) -> None: ...

    relay = RelayTransport()
    assert fast_sendto(relay) == relay.sendto


def test_the_cheap_clock_reads_what_aiortcs_clock_reads() -> None:
    # Both read the wall clock one after the other: they agree within a loaded machine's hiccup.
    before = aiortc_clock.current_ntp_time()
    ours = ntp_now()
    after = aiortc_clock.current_ntp_time()
    slack = 1 << 30  # 0.25 s in 32.32 fixed point
    assert before - slack <= ours <= after + slack
    ms_before, ms, ms_after = aiortc_clock.current_ms(), ntp_ms(), aiortc_clock.current_ms()
    assert ms_before - 250 <= ms <= ms_after + 250
    # abs-send-time is 6.18 fixed-point seconds: the NTP time's middle 24 bits.
    assert abs_send_time((5 << 32) | (1 << 31)) == ((5 << 18) | (1 << 17)).to_bytes(3, "big")
    frame = packetize("audio/opus", b"\x01")
    assert frame.abs_time == abs_send_time(frame.ntp) and frame.ntp > 0


class LossyPath(FastPath):
    """The classroom's network loses every ``nth`` RTP packet on the way in (RTCP passes)."""

    __slots__ = ("nth", "seen")

    def __call__(self, data: bytes) -> bool:
        self.seen[0] += 1
        if not 192 <= data[1] <= 208 and self.seen[0] % self.nth == 0:
            self.seen[1] += 1
            return True
        return super().__call__(data)


def _drop_every(client: LessonClient, nth: int) -> list[int]:
    assert client.pc is not None
    dtls = client.pc.getTransceivers()[0].receiver.transport
    connection = dtls.transport._connection
    (pair,) = connection._nominated.values()
    lossy = LossyPath(dtls, connection, pair.remote_addr)
    lossy.nth, lossy.seen = nth, [0, 0]  # datagrams, dropped
    pair.protocol._streamhub_fast = lossy
    return lossy.seen


@pytest.mark.parametrize("send_path", ["compiled", "python"])
async def test_lost_packets_are_resent_to_the_classroom_that_lost_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, send_path: str
) -> None:
    # Both send paths: the compiled one (streamhub/media/_rtpsend.c) and its Python fallback.
    if send_path == "python":
        monkeypatch.setattr(rtp_send, "native", None)
    else:
        assert rtp_send.native is not None
    video = encode_video_clip(320, 240, fps=30, seconds=2, bitrate_kbps=400)
    audio = encode_audio_clip(0.5)
    async with InProcessHub(tmp_path / "hub", recorder={"enabled": False}) as hub:
        admin = AdminApi(hub.url)
        lesson = await admin.lesson(classrooms=2)
        lecturer = LessonClient(hub.url, lesson.lecturer_token)
        lossy = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
        clean = LessonClient(hub.url, await admin.device_token(lesson.credentials[1]))
        counters: list[FrameRun] = []
        try:
            camera = ClipTrack(video)
            await lecturer.connect({Slot.CAMERA: camera, Slot.MICROPHONE: ClipTrack(audio)})
            aiortc_hooks.on_keyframe_request(lecturer.senders[Slot.CAMERA], camera.request_keyframe)
            await lossy.connect({})
            await clean.connect({})
            await eventually(
                lambda: lossy.pc is not None and lossy.pc.connectionState == "connected"
            )
            lost = _drop_every(lossy, 25)  # 4 % loss
            counters = [
                FrameRun(c.tracks[Slot.LECTURER_VIDEO], codec="VP8") for c in (lossy, clean)
            ]
            # Every frame arrives at both, the lossy one thanks to retransmissions.
            await eventually(lambda: all(f.best >= 150 for f in counters), timeout=40)
            assert lost[1] > 10
            assert counters[0].decoded >= 150
            room = hub.services.lessons.rooms[lesson.lesson_id]
            legs = {m.id: m.sinks[m.layout.index(Slot.LECTURER_VIDEO)] for m in room.classrooms()}
            assert all(isinstance(sink, OutTrack) for sink in legs.values())
            for sink in legs.values():
                assert sink.leg is not None
                assert (sink.leg._native is not None) == (send_path == "compiled")

            def resent(client: LessonClient) -> int:
                return legs[client.joined.participant.id].leg.retransmitted  # type: ignore[union-attr]

            # Packets keep being dropped while we look, and the last ones' NACKs are still on
            # their way: wait until the resent ones catch up with half of those lost.
            await eventually(lambda: resent(lossy) >= lost[1] // 2, timeout=20)
            assert resent(clean) == 0

            # Sender reports come from the legs that send, and the round trip is measured from
            # the classroom's receiver reports that echo them; an empty slot reports nothing.
            member = next(m for m in room.classrooms() if m.id == clean.joined.participant.id)  # type: ignore[union-attr]
            video = member.sinks[member.layout.index(Slot.LECTURER_VIDEO)]
            screen = member.sinks[member.layout.index(Slot.SCREEN_VIDEO)]
            assert isinstance(video, OutTrack) and isinstance(screen, OutTrack)
            assert video.leg is not None and screen.leg is not None
            sender = video.leg.sender
            await eventually(lambda: sender._RTCRtpSender__rtt is not None, timeout=15)
            assert video.leg.reports >= 1 and screen.leg.reports == 0
        finally:
            for counter in counters:
                counter.stop()
            for client in (clean, lossy, lecturer):
                await client.close()
            await admin.close()
