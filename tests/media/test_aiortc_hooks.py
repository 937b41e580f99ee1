"""Fails if an aiortc upgrade breaks the internals streamhub.media.aiortc_hooks relies on."""

from __future__ import annotations

import asyncio
import re
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any

import aioice.ice
import aiortc.rtcrtpreceiver
import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtp import RtcpPacket, RtcpSrPacket, RtpPacket

from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack, read_counter
from streamhub.media import aiortc_hooks, rtp_receive
from streamhub.media.reassembly import RepeatingNackGenerator, VideoFrameAssembler
from tests.support.peer_pair import loopback_pair, negotiate
from tests.support.wait import eventually


async def _connected_pair() -> tuple[RTCPeerConnection, RTCPeerConnection, list, PatternVideoTrack]:
    publisher, subscriber = loopback_pair()
    video = PatternVideoTrack()
    publisher.addTransceiver(video, direction="sendonly")
    publisher.addTransceiver(ToneAudioTrack(), direction="sendonly")
    tracks: list = []
    subscriber.on("track", tracks.append)
    await negotiate(publisher, subscriber)
    # Loopback only: the configured host address is the only candidate.
    assert "127.0.0.1" in publisher.localDescription.sdp
    return publisher, subscriber, tracks, video


async def test_receiver_yields_encoded_frames_that_decode_to_the_publisher_frames() -> None:
    publisher, subscriber, tracks, video = await _connected_pair()
    try:
        video_track = next(t for t in tracks if t.kind == "video")
        audio_track = next(t for t in tracks if t.kind == "audio")
        first = await asyncio.wait_for(video_track.recv(), 10)
        assert isinstance(first, av.Packet)
        assert first.is_keyframe
        assert first.time_base == Fraction(1, 90000)
        frames = FrameDecoder("VP8").decode(first)
        assert [(f.width, f.height) for f in frames] == [(640, 480)]
        assert 0 <= read_counter(frames[0]) < video.count
        audio = await asyncio.wait_for(audio_track.recv(), 10)
        assert isinstance(audio, av.Packet)
        assert audio.time_base == Fraction(1, 48000)
        assert FrameDecoder("opus").decode(audio)
    finally:
        await publisher.close()
        await subscriber.close()


async def test_a_sender_with_nothing_to_send_sends_no_reports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher, subscriber = loopback_pair()
    sending = publisher.addTransceiver(PatternVideoTrack(), direction="sendonly").sender
    idle = publisher.addTransceiver("video", direction="sendonly").sender  # a slot not in use
    reports: list[int] = []  # the SSRC of each sender report the subscriber receives
    original = rtp_receive.handle_rtcp_data

    async def handle_rtcp_data(dtls: Any, data: bytes) -> None:
        reports.extend(p.ssrc for p in RtcpPacket.parse(data) if isinstance(p, RtcpSrPacket))
        await original(dtls, data)

    monkeypatch.setattr(rtp_receive, "handle_rtcp_data", handle_rtcp_data)
    try:
        await negotiate(publisher, subscriber)
        # Both senders' report timers run at the same randomized pace (0.5-1.5 s).
        await eventually(lambda: reports.count(sending._ssrc) >= 4, timeout=30)
        assert idle._ssrc not in reports
    finally:
        await publisher.close()
        await subscriber.close()


async def test_keyframe_request_reaches_the_publisher_and_codec_pinning() -> None:
    publisher, subscriber, tracks, _ = await _connected_pair()
    try:
        video_track = next(t for t in tracks if t.kind == "video")
        await asyncio.wait_for(video_track.recv(), 10)
        asked = asyncio.Event()
        sender = next(t.sender for t in publisher.getTransceivers() if t.kind == "video")
        aiortc_hooks.on_keyframe_request(sender, asked.set)
        receiver = next(t.receiver for t in subscriber.getTransceivers() if t.kind == "video")
        assert await aiortc_hooks.send_pli(receiver)
        await asyncio.wait_for(asked.wait(), 5)

        transceiver = next(t for t in subscriber.getTransceivers() if t.kind == "video")
        assert aiortc_hooks.pin_codec(transceiver, "video/VP8")
        assert {c.mimeType.lower() for c in transceiver._codecs} <= {"video/vp8", "video/rtx"}
        assert not aiortc_hooks.pin_codec(transceiver, "video/H264")
    finally:
        await publisher.close()
        await subscriber.close()


async def test_lost_packets_are_resent_on_a_bundle_with_two_video_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every StreamHub peer bundles several video m-lines; aiortc alone drops their RTX."""
    publisher, subscriber = loopback_pair()
    camera, screen = PatternVideoTrack(320, 240), PatternVideoTrack(320, 240)
    publisher.addTransceiver(camera, direction="sendonly")
    publisher.addTransceiver(screen, direction="sendonly")
    tracks: list = []
    subscriber.on("track", tracks.append)
    # The network loses every 8th original packet of the camera once; retransmissions pass.
    handle = rtp_receive.handle_packet  # every received RTP packet's way to its receiver
    seen: dict[int, int] = {}
    lost: set[tuple[int, int]] = set()

    asked = asyncio.Event()
    pli_after_rtx: list[asyncio.Future[bool]] = []

    def lossy(self: RTCRtpReceiver, packet: RtpPacket) -> None:
        if self is camera_receiver and packet.payload_type == camera_pt:
            seen[packet.ssrc] = seen.get(packet.ssrc, 0) + 1
            key = (packet.ssrc, packet.sequence_number)
            if seen[packet.ssrc] % 8 == 0 and key not in lost:
                lost.add(key)
                return
        handle(self, packet)
        if self is camera_receiver and packet.payload_type != camera_pt and not pli_after_rtx:
            # Right after a retransmission, the newest source aiortc saw is the RTX SSRC:
            # a keyframe request must still name the camera's own stream.
            pli_after_rtx.append(asyncio.ensure_future(aiortc_hooks.send_pli(self)))

    monkeypatch.setattr(rtp_receive, "handle_packet", lossy)
    try:
        await negotiate(publisher, subscriber)
        first = subscriber.getTransceivers()[0]
        camera_receiver = first.receiver
        aiortc_hooks.on_keyframe_request(publisher.getTransceivers()[0].sender, asked.set)
        camera_pt = next(c.payloadType for c in first._codecs if c.mimeType == "video/VP8")
        track = tracks[0]
        decoder = FrameDecoder("VP8")
        counters: list[int] = []
        while len(counters) < 90:
            packet = await asyncio.wait_for(track.recv(), 5)
            counters += [read_counter(frame) for frame in decoder.decode(packet)]
        assert len(lost) >= 10, "the camera lost packets"
        # Each loss was repaired: no frame is missing between the first and the last.
        assert counters == list(range(counters[0], counters[0] + len(counters)))
        assert [await sent for sent in pli_after_rtx] == [True]
        await asyncio.wait_for(asked.wait(), 5)

        # The link figures the hub reads in place (no getStats): the camera's own losses, the
        # RTX stream not counted as a stream of its own.
        dropped, figures = len(lost), aiortc_hooks.link_figures(subscriber)
        assert dropped - 1 <= figures.packets_lost <= dropped, (dropped, figures)
        assert figures.packets_received > 90

        # Bytes and round trips as getStats reports them (read between two readings: the
        # counters only grow, and a receiver report may land meanwhile).
        async def as_get_stats_reports() -> bool:
            for pc in (subscriber, publisher):
                before = aiortc_hooks.link_figures(pc)
                report = await pc.getStats()
                after = aiortc_hooks.link_figures(pc)
                transport = next(s for s in report.values() if s.type == "transport")
                assert before.bytes_received <= transport.bytesReceived <= after.bytes_received
                assert before.bytes_sent <= transport.bytesSent <= after.bytes_sent
                rtts = sorted(
                    s.roundTripTime
                    for s in report.values()
                    if s.type == "remote-inbound-rtp" and s.roundTripTime is not None
                )
                if before.rtt_s != after.rtt_s or sorted(before.rtt_s) != rtts:
                    return False
            return bool(aiortc_hooks.link_figures(publisher).rtt_s)  # receiver reports came

        await eventually(as_get_stats_reports, timeout=20, interval=0.2)
    finally:
        await publisher.close()
        await subscriber.close()


async def test_peer_connections_share_one_certificate_and_still_connect() -> None:
    publisher, subscriber, tracks, _ = await _connected_pair()
    try:
        assert await asyncio.wait_for(tracks[0].recv(), 10)
        fingerprint = [
            line
            for pc in (publisher, subscriber)
            for line in pc.localDescription.sdp.splitlines()
            if line.startswith("a=fingerprint:sha-256")
        ]
        assert len(set(fingerprint)) == 1, "one certificate per process, not per connection"
    finally:
        await publisher.close()
        await subscriber.close()


def test_keyframe_detection() -> None:
    assert aiortc_hooks.vp8_is_keyframe(bytes([0x10, 0x02, 0x00, 0x9D]))
    assert not aiortc_hooks.vp8_is_keyframe(bytes([0x11, 0x02, 0x00]))
    idr = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65\x88"
    delta = b"\x00\x00\x00\x01\x41\x9a"
    assert aiortc_hooks.h264_is_keyframe(idr)
    assert not aiortc_hooks.h264_is_keyframe(delta)


def test_datagram_guard_is_installed_on_the_aioice_it_relies_on() -> None:
    import aioice.ice

    aiortc_hooks.install(["127.0.0.1"])
    assert aioice.ice.StunProtocol.datagram_received is aiortc_hooks._guarded_datagram_received
    # The guard reads these aioice internals; an upgrade that renames them must fail here.
    connection = aioice.ice.Connection(ice_controlling=False)
    assert isinstance(connection._check_list, list)
    assert {s.name for s in aiortc_hooks._CHECKED} == {"IN_PROGRESS", "SUCCEEDED"}


def test_audio_packets_are_reordered_and_a_loss_costs_only_itself() -> None:
    import aiortc.rtcrtpreceiver
    from aiortc.rtp import RtpPacket

    aiortc_hooks.install(["127.0.0.1"])
    audio = aiortc.rtcrtpreceiver.JitterBuffer(capacity=16, prefetch=4)
    delivered = []
    # 3 is lost, 5 and 6 arrive swapped, 1 arrives again after its turn.
    for seq in (1, 2, 4, 6, 5, 7, 8, 1, 9, 10):
        packet = RtpPacket(sequence_number=seq, timestamp=seq * 960)
        packet._data = bytes([seq])  # the depayloaded frame, as the receiver sets it
        _, frame = audio.add(packet)
        if frame is not None:
            delivered.append(frame.data[0])
    assert delivered == [1, 2, 4, 5, 6, 7, 8]
    video = aiortc.rtcrtpreceiver.JitterBuffer(capacity=512, is_video=True)
    assert isinstance(video, VideoFrameAssembler)
    assert aiortc.rtcrtpreceiver.NackGenerator is RepeatingNackGenerator


def test_the_agents_h264_encoder_runs_libx264_at_a_realtime_preset() -> None:
    import aiortc.rtcrtpsender
    import numpy as np
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    aiortc_hooks.install(["127.0.0.1"])
    codec = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
    encoder = aiortc.rtcrtpsender.get_encoder(codec)
    assert isinstance(encoder, aiortc_hooks.RealtimeH264Encoder)
    for index in range(5):
        frame = av.VideoFrame.from_ndarray(
            np.full((240, 320, 3), index * 40, np.uint8), format="bgr24"
        ).reformat(format="yuv420p")
        frame.pts, frame.time_base = index * 3000, Fraction(1, 90000)
        payloads, _ = encoder.encode(frame, force_keyframe=index == 0)
        assert payloads  # zerolatency: every frame comes out at once
    assert encoder.codec is not None and encoder.options["preset"] == "veryfast"


def test_the_hooks_are_patched_once_and_the_same_install_again_is_a_no_op() -> None:
    first = aiortc_hooks.install(["127.0.0.1"])
    patched = (aiortc.rtcrtpreceiver.get_decoder, aioice.ice.StunProtocol.datagram_received)
    again = aiortc_hooks.install(("127.0.0.1",), udp_port_range=...)
    assert (aiortc.rtcrtpreceiver.get_decoder, aioice.ice.StunProtocol.datagram_received) == (
        patched
    )
    first.release()
    again.release()


def test_a_conflicting_install_raises_while_the_first_is_held() -> None:
    held = aiortc_hooks.install(["127.0.0.1"], udp_port_range=None)
    with pytest.raises(aiortc_hooks.HooksConflict, match=r"10\.9\.8\.7"):
        aiortc_hooks.install(["10.9.8.7"])
    with pytest.raises(aiortc_hooks.HooksConflict):
        aiortc_hooks.install(["127.0.0.1"], udp_port_range=(40000, 40009))
    with pytest.raises(aiortc_hooks.HooksConflict):
        aiortc_hooks.install(["127.0.0.1"], consent_timeout_s=3.0)
    assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"], "left as it was"
    held.release()
    # A holder dropped in a reference cycle (as a client with its peer connection) is no claim.
    cycle: list[object] = [aiortc_hooks.install(["127.0.0.1"], udp_port_range=None)]
    cycle.append(cycle)
    del cycle
    # Released (or dropped: claims are held weakly), the settings may change.
    other = aiortc_hooks.install(["10.9.8.7"])
    assert aioice.ice.get_host_addresses(True, False) == ["10.9.8.7"]
    del other
    aiortc_hooks.install(["127.0.0.1"])
    assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]


async def test_the_hub_holds_its_install_and_a_client_cannot_move_it(tmp_path: Path) -> None:
    from streamhub.client import LessonClient
    from tests.support.hub import InProcessHub

    async with InProcessHub(tmp_path / "hub", recorder={"enabled": False}) as hub:
        with pytest.raises(aiortc_hooks.HooksConflict):
            LessonClient(hub.url, "x" * 20, ice_host_addresses=("10.9.8.7",))
        # A client on the hub's own addresses shares the install.
        await LessonClient(hub.url, "x" * 20).close()
    aiortc_hooks.install(["10.9.8.7"]).release()  # the hub let go when it stopped
    aiortc_hooks.install(["127.0.0.1"])


def test_aiortc_outside_the_pinned_range_is_a_clear_error() -> None:
    aiortc_hooks.check_aiortc_version()  # the one installed here
    aiortc_hooks.check_aiortc_version("1.16.9")
    for version in ("1.17.0", "1.15.2", "2.0", "dev"):
        with pytest.raises(aiortc_hooks.AiortcVersionError, match=r"aiortc>=1\.16,<1\.17"):
            aiortc_hooks.check_aiortc_version(version)


def test_the_hooks_range_is_the_one_pyproject_pins() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    (aiortc_pin,) = [d for d in dependencies if re.match(r"aiortc\b", d)]
    (low, below) = aiortc_hooks.AIORTC_RANGE
    assert sorted(aiortc_pin.removeprefix("aiortc").split(",")) == sorted(
        [f">={low[0]}.{low[1]}", f"<{below[0]}.{below[1]}"]
    )
