"""OutTrack and KeyframeRequester with real VP8/Opus packets (no network needed)."""

from __future__ import annotations

import asyncio
import itertools
from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
import pytest

from streamhub.config import IceSettings, TurnServer
from streamhub.media.forwarder import (
    CATCH_UP_MAX_BYTES,
    CATCH_UP_MAX_FRAMES,
    KEYFRAME_RETRY_S,
    OutTrack,
    TrackSource,
)
from streamhub.media.ice import announce_address, client_ice_servers, rtc_configuration
from streamhub.media.keyframes import KeyframeRequester
from tests.support.wait import eventually


def vp8_packets(count: int, keyframe_every: int = 10) -> list[av.Packet]:
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "g": str(keyframe_every)}
    packets = []
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(
            np.full((120, 160, 3), i * 7 % 255, np.uint8), format="rgb24"
        )
        frame.pts = i
        for packet in encoder.encode(frame.reformat(format="yuv420p")):
            packets.append(packet)
    for packet in encoder.encode(None):
        packets.append(packet)
    for i, packet in enumerate(packets):
        packet.pts = i * 3000
        packet.time_base = Fraction(1, 90000)
    return packets


class FakeSource:
    """Stands in for a TrackSource: only the keyframe requester is used by OutTrack."""

    def __init__(self) -> None:
        self.requests = 0
        self.sinks: set[OutTrack] = set()
        outer = self

        class Requester:
            def request(self, urgent: bool = False) -> None:
                outer.requests += 1

        self.keyframes = Requester()

    def add_sink(self, sink: OutTrack) -> None:
        self.sinks.add(sink)

    def remove_sink(self, sink: OutTrack) -> None:
        self.sinks.discard(sink)

    def since_key(self) -> list:
        return []  # no frames kept: a slot waits for the next key frame


async def test_video_slot_waits_for_a_keyframe_and_restamps_across_a_switch() -> None:
    packets = vp8_packets(25, keyframe_every=10)
    assert packets[0].is_keyframe and not packets[1].is_keyframe
    sink = OutTrack("video", "test", max_frames=60)
    first, second = FakeSource(), FakeSource()
    sink.switch(first)  # type: ignore[arg-type]
    assert first.requests == 1  # a new subscriber asks for a keyframe at once
    for packet in packets[1:5]:
        sink.push(packet)  # delta frames before any keyframe are not forwarded
    sink.push(packets[0])
    sink.push(packets[1])
    out = [await sink.recv(), await sink.recv()]
    assert out[0].is_keyframe and bytes(out[0]) == bytes(packets[0])
    assert [p.pts for p in out] == [0, 3000]

    sink.switch(second)  # type: ignore[arg-type]
    assert second.requests == 1 and sink not in first.sinks
    later = [p for p in packets if p.is_keyframe][1]
    later.pts = 900_000  # another publisher's clock
    sink.push(later)
    switched = await sink.recv()
    assert switched.pts == 6000  # continuous for the subscriber's decoder
    sink.stop()


async def test_a_slow_subscriber_drops_video_to_the_next_keyframe() -> None:
    packets = vp8_packets(40, keyframe_every=20)
    sink = OutTrack("video", "slow", max_frames=8)
    source = FakeSource()
    sink.switch(source)  # type: ignore[arg-type]
    for packet in packets[:15]:
        sink.push(packet)
    assert sink.dropped > 0
    assert source.requests >= 2  # dropping asked the publisher for a fresh keyframe
    for packet in packets[15:25]:
        sink.push(packet)
    first = await asyncio.wait_for(sink.recv(), 1)
    assert first.is_keyframe
    sink.stop()


async def test_disabled_slot_forwards_nothing_until_enabled() -> None:
    packets = vp8_packets(12, keyframe_every=5)
    sink = OutTrack("video", "audio-only", max_frames=60)
    sink.switch(FakeSource())  # type: ignore[arg-type]
    sink.set_enabled(False)
    for packet in packets:
        sink.push(packet)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sink.recv(), 0.1)
    sink.set_enabled(True)
    for packet in packets:
        sink.push(packet)
    assert (await asyncio.wait_for(sink.recv(), 1)).is_keyframe
    sink.stop()


async def test_keyframe_requests_are_coalesced_per_interval() -> None:
    sent: list[float] = []

    async def send() -> bool:
        sent.append(asyncio.get_running_loop().time())
        return True

    loop = asyncio.get_running_loop()
    requester = KeyframeRequester(send, interval_s=0.3)
    started = loop.time()
    for _ in range(20):
        requester.request()  # repairs (a lossy subscriber asking again and again)
        await asyncio.sleep(0.01)
        requester.keyframe_arrived()
    asked_for = loop.time() - started  # ~0.2 s; longer on a loaded machine
    await eventually(lambda: len(sent) >= 2, timeout=10)
    await asyncio.sleep(0.35)  # one more interval: nothing else is owed, so nothing comes
    # One at once, then at most one per interval for everything asked meanwhile (two when
    # the requests took the ~0.2 s they take; a loaded machine stretches them over more).
    assert all(b - a >= 0.29 for a, b in itertools.pairwise(sent)), sent
    assert len(sent) <= 2 + int(asked_for / 0.3), (sent, asked_for)
    assert len(sent) + requester.coalesced == 20
    await requester.close()


async def test_a_waiting_subscriber_asks_at_once_coalesced_only_while_one_is_in_flight() -> None:
    sent: list[float] = []
    now = [100.0]

    async def send() -> bool:
        sent.append(now[0])
        return True

    requester = KeyframeRequester(send, interval_s=0.5, clock=lambda: now[0])
    requester.request(urgent=True)  # a classroom joins
    await asyncio.sleep(0)
    assert sent == [100.0]
    now[0] += 0.05
    requester.request(urgent=True)  # another joins before the key frame came: it serves both
    await asyncio.sleep(0)
    assert sent == [100.0] and requester.coalesced == 1
    requester.keyframe_arrived()
    now[0] += 0.01
    requester.request(urgent=True)  # the key frame passed: the next one is asked for at once
    await asyncio.sleep(0)
    assert sent == [100.0, 100.06]
    now[0] += 1.5  # its key frame never came (a lost PLI): asking again is allowed
    requester.request(urgent=True)
    await asyncio.sleep(0)
    assert sent == [100.0, 100.06, 101.56]
    await requester.close()


async def test_a_slot_waiting_for_a_key_frame_asks_again_each_second_until_one_comes() -> None:
    asked: list[bool] = []

    class Publisher:  # a slot's source, as far as key frame requests go
        keyframes = SimpleNamespace(request=asked.append)

        def add_sink(self, sink: OutTrack) -> None: ...

        def remove_sink(self, sink: OutTrack) -> None: ...

        def since_key(self) -> list:
            return []

    packets = vp8_packets(12, keyframe_every=10)  # key frames: 0 and 10
    sink = OutTrack("video", "waiting")
    sink.switch(Publisher())  # type: ignore[arg-type]
    assert asked == [True]  # joined: asked at once
    for packet in packets[1:5]:
        sink.push(packet)  # deltas it cannot show; asked a moment ago: not again
    assert asked == [True]
    sink._asked_at -= KEYFRAME_RETRY_S  # a second without a key frame: the request was dropped
    sink.push(packets[5])
    assert asked == [True, False]  # asked again (a repair: the publisher's side rate-limits)
    sink.push(packets[10])  # the key frame: shown, nothing more to ask
    sink._asked_at -= KEYFRAME_RETRY_S
    sink.push(packets[11])
    assert asked == [True, False]
    assert (await asyncio.wait_for(sink.recv(), 1)).is_keyframe
    sink.stop()


def _video_source(asked: list[int]) -> TrackSource:
    async def send() -> bool:
        asked.append(1)
        return True

    track = SimpleNamespace(kind="video")  # frames are handed to the source directly below
    return TrackSource(track, KeyframeRequester(send), "lecturer")  # type: ignore[arg-type]


async def _received(sink: OutTrack) -> list[av.Packet]:
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(sink.recv(), 0.05))
        except TimeoutError:
            return out


async def test_a_slot_starting_between_key_frames_gets_every_frame_since_the_last_one() -> None:
    packets = vp8_packets(30, keyframe_every=20)  # key frames: 0 and 20
    asked: list[int] = []
    source = _video_source(asked)
    first = OutTrack("video", "first")
    first.switch(source)
    for packet in packets[:8]:
        source._frame(packet)
    late = OutTrack("video", "late")
    late.switch(source)  # a classroom joins at frame 8: no key frame for 12 frames
    source._frame(packets[8])
    got = await _received(late)
    # At once, the key frame and every delta after it, in order; the caught-up frames stamped
    # a tick apart just before the live one (a receiver plays them at once, adding no delay).
    assert [bytes(p) for p in got] == [bytes(p) for p in packets[:9]]
    assert got[0].is_keyframe and [p.pts for p in got] == list(range(9))
    assert [bytes(p) for p in await _received(first)] == [bytes(p) for p in packets[:9]]
    for packet in packets[9:12]:
        source._frame(packet)
    live = await _received(late)
    assert [bytes(p) for p in live] == [bytes(p) for p in packets[9:12]]
    assert [p.pts for p in live] == [8 + 3000, 8 + 6000, 8 + 9000]  # the source's own steps
    assert asked, "the urgent key frame request still went out"
    await source.close()


async def test_a_slot_that_fell_behind_never_gets_old_frames_again() -> None:
    packets = vp8_packets(30, keyframe_every=20)
    source = _video_source([])
    slow = OutTrack("video", "slow", max_frames=4)
    slow.switch(source)
    for packet in packets[:6]:  # never read: the slot overflows and drops to a key frame
        source._frame(packet)
    assert slow.dropped > 0
    await _received(slow)
    for packet in packets[6:21]:
        source._frame(packet)
    got = await _received(slow)
    # What it had already shown is not sent again; it resumes at the next key frame.
    assert got and bytes(got[0]) == bytes(packets[20]) and got[0].is_keyframe
    await source.close()


async def test_a_slot_waits_for_a_key_frame_when_the_frames_since_are_too_many_bytes() -> None:
    packets = vp8_packets(12, keyframe_every=10)  # key frames: 0 and 10
    source = _video_source([])
    source._frame(packets[0])
    for packet in packets[1:4]:
        big = av.Packet(bytes(packet) + bytes(CATCH_UP_MAX_BYTES // 3))  # a burst too big
        big.pts, big.time_base, big.is_keyframe = packet.pts, packet.time_base, False
        source._frame(big)
    late = OutTrack("video", "late")
    late.switch(source)
    source._frame(packets[4])
    assert await _received(late) == []
    source._frame(packets[10])
    assert [bytes(p) for p in await _received(late)] == [bytes(packets[10])]
    await source.close()


async def test_a_slot_waits_for_a_key_frame_when_the_last_one_is_too_far_back() -> None:
    packets = vp8_packets(CATCH_UP_MAX_FRAMES + 12, keyframe_every=CATCH_UP_MAX_FRAMES + 5)
    source = _video_source([])
    for packet in packets[: CATCH_UP_MAX_FRAMES + 2]:
        source._frame(packet)
    late = OutTrack("video", "late")
    late.switch(source)
    for packet in packets[CATCH_UP_MAX_FRAMES + 2 : CATCH_UP_MAX_FRAMES + 5]:
        source._frame(packet)
    assert await _received(late) == []  # too many frames to catch up: the next key frame
    key = packets[CATCH_UP_MAX_FRAMES + 5]
    assert key.is_keyframe
    source._frame(key)
    got = await _received(late)
    assert [bytes(p) for p in got] == [bytes(key)]
    await source.close()


def test_ice_configuration_has_no_stun_by_default_and_announces_the_public_address() -> None:
    ice = IceSettings()
    assert rtc_configuration(ice).iceServers == []
    sdp = "a=candidate:abc 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
    announced = announce_address(sdp, ["127.0.0.1"], "203.0.113.7")
    assert "203.0.113.7 50000 typ host" in announced
    assert announce_address(sdp, ["127.0.0.1"], None) == sdp


def test_turn_credentials_are_time_limited() -> None:
    ice = IceSettings(
        turn_servers=[TurnServer(urls=["turn:turn.example:3478"], credential="s3cret")]
    )
    (server,) = client_ice_servers(ice, "cls-1")
    expiry, who = server.username.split(":")
    assert who == "cls-1" and int(expiry) > 0
    assert server.credential and server.credential != "s3cret"
