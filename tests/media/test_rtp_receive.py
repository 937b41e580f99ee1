"""The receive fast path (streamhub.media.rtp_receive) on real aiortc peers."""

from __future__ import annotations

import asyncio
import struct
import threading

import pytest
from aiortc.codecs.vpx import vp8_depayload
from aiortc.rtp import RtpPacket
from hypothesis import given
from hypothesis import strategies as st

from streamhub.media import aiortc_hooks
from streamhub.media.codecs import vp8_payload
from streamhub.media.forwarder import OutTrack, TrackSource
from streamhub.media.keyframes import KeyframeRequester
from streamhub.media.rtp_receive import FastPath, drive, parse_rtp
from tests.media.test_aiortc_hooks import _connected_pair
from tests.support.wait import eventually


async def test_packets_take_the_fast_path_with_no_decoder_thread_and_no_remb() -> None:
    publisher, subscriber, tracks, _ = await _connected_pair()
    try:
        video = next(t for t in tracks if t.kind == "video")
        audio = next(t for t in tracks if t.kind == "audio")
        for _ in range(30):
            await asyncio.wait_for(video.recv(), 10)
        await asyncio.wait_for(audio.recv(), 10)
        # Frames came without a decoder thread per stream.
        assert not [t for t in threading.enumerate() if t.name.endswith("-decoder")]
        receiver = next(t.receiver for t in subscriber.getTransceivers() if t.kind == "video")
        assert receiver._RTCRtpReceiver__remote_bitrate_estimator is None
        # ... and through the fast path: decrypted where the datagram landed.
        connection = receiver.transport.transport._connection
        (pair,) = connection._nominated.values()
        fast = pair.protocol._streamhub_fast
        assert isinstance(fast, FastPath) and fast.handled >= 30
    finally:
        await publisher.close()
        await subscriber.close()
    assert pair.protocol._streamhub_fast is None  # closed: nothing left behind


async def test_drive_runs_a_coroutine_in_place_and_hands_a_suspended_one_to_a_task() -> None:
    steps: list[str] = []

    async def at_once() -> None:
        steps.append("at once")

    drive(at_once())
    assert steps == ["at once"]  # before any other turn of the loop

    gate = asyncio.Event()

    async def suspends() -> None:
        steps.append("started")
        await gate.wait()
        steps.append("finished")

    drive(suspends())
    assert steps[-1] == "started"
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert steps[-1] == "finished"

    async def fails() -> None:
        raise ValueError("bad packet")

    with pytest.raises(ValueError):
        drive(fails())


async def test_a_source_takes_a_received_tracks_frames_inline_and_ends_with_the_track() -> None:
    publisher, subscriber, tracks, _ = await _connected_pair()
    video = next(t for t in tracks if t.kind == "video")
    receiver = next(t.receiver for t in subscriber.getTransceivers() if t.kind == "video")

    async def pli() -> bool:
        return await aiortc_hooks.send_pli(receiver)

    # Started as the hub starts it: before the transport connects and aiortc starts the receiver.
    source = TrackSource(video, KeyframeRequester(pli), "classroom/camera", "video/vp8")
    source.start()
    sink = OutTrack("video", "recorder/camera")
    sink.switch(source)
    try:
        frames = [await asyncio.wait_for(sink.recv(), 10) for _ in range(30)]
        assert frames[0].is_keyframe  # a slot starts at a key frame
        # Once frames flowed, they come where they are assembled: no task reads the track.
        await eventually(lambda: source._inline)
        assert source._task is not None and source._task.done()
        counted = source.frames
        await eventually(lambda: source.frames >= counted + 30)
        assert [await asyncio.wait_for(sink.recv(), 10) for _ in range(5)]
    finally:
        await publisher.close()
        await subscriber.close()
    # The receiver stopped: the source ends and tells its slots.
    await asyncio.wait_for(source.ended.wait(), 10)
    assert sink.source is None
    await source.close()


def _rtp(
    *,
    csrc: tuple[int, ...] = (),
    extension: bytes | None = None,
    padding: int = 0,
    payload: bytes = b"\x90\x80\x12hello",
) -> bytes:
    first = 0x80 | len(csrc) | (0x10 if extension is not None else 0) | (0x20 if padding else 0)
    data = struct.pack("!BBHLL", first, 0x80 | 96, 4242, 90000, 0xDEADBEEF)
    data += b"".join(struct.pack("!L", c) for c in csrc)
    if extension is not None:
        data += struct.pack("!HH", 0xBEDE, len(extension) // 4) + extension
    return data + payload + (bytes(padding - 1) + bytes([padding]) if padding else b"")


@pytest.mark.parametrize(
    "data",
    [
        _rtp(),
        _rtp(csrc=(1, 2, 3)),
        _rtp(extension=b"\x10\x01\x22\x33\x44\x55\x00\x00"),  # two one-byte elements
        _rtp(padding=4),
        _rtp(csrc=(7,), extension=bytes(4), padding=1, payload=b""),
    ],
)
def test_the_receive_parse_reads_what_aiortc_reads_but_the_extensions(data: bytes) -> None:
    ours, theirs = parse_rtp(data), RtpPacket.parse(data)
    fields = ("version", "marker", "payload_type", "sequence_number", "timestamp", "ssrc")
    assert [getattr(ours, f) for f in fields] == [getattr(theirs, f) for f in fields]
    assert (ours.csrc, ours.padding_size, ours.payload) == (
        theirs.csrc,
        theirs.padding_size,
        theirs.payload,
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(11),
        b"\x40" + bytes(11),  # version 1
        _rtp(csrc=(1, 2))[:16],  # CSRC cut short
        _rtp(extension=bytes(8))[:14],  # extension header cut short
        _rtp(extension=bytes(8))[:20],  # extension cut short
        _rtp(padding=4)[:-1] + b"\x00",  # padding of 0
        _rtp(padding=4, payload=b"")[:-1] + b"\x40",  # more padding than the packet
    ],
)
def test_the_receive_parse_refuses_what_aiortc_refuses(data: bytes) -> None:
    with pytest.raises(ValueError):
        RtpPacket.parse(data)
    with pytest.raises(ValueError):
        parse_rtp(data)


@given(st.binary(max_size=8), st.binary(max_size=4))
def test_vp8_payload_is_what_aiortc_depayloads(descriptor: bytes, rest: bytes) -> None:
    payload = descriptor + rest
    try:
        expected = vp8_depayload(payload)
    except ValueError:
        with pytest.raises(ValueError):
            vp8_payload(payload)
    else:
        assert vp8_payload(payload) == expected
