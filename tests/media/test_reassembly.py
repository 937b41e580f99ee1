"""The video receive buffer: whole frames out as soon as they are whole, a lost packet waited
for briefly, then the broken frames dropped and the stream resumed at a key frame."""

from __future__ import annotations

from fractions import Fraction

from aiortc.rtp import RtpPacket

from streamhub.media import reassembly
from streamhub.media.aiortc_hooks import EncodedFrameTap
from streamhub.media.reassembly import FrameBatch, VideoFrameAssembler

KEY = b"\x10\x02\x00\x9d\x01\x2a" + bytes(10)  # a VP8 key frame's first bytes
DELTA = b"\x11\x02\x00" + bytes(10)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stream(frames: list[tuple[bool, int]], first_seq: int = 1000) -> list[RtpPacket]:
    """RTP packets of frames given as (key frame?, packets); payloads say frame and part."""
    packets, seq = [], first_seq
    for index, (key, count) in enumerate(frames):
        for part in range(count):
            packet = RtpPacket(
                sequence_number=seq % 65536,
                timestamp=(3000 * index + 4_294_960_000) % (1 << 32),
                marker=part == count - 1,
            )
            head = (KEY if key else DELTA) if part == 0 else bytes(4)
            packet._data = head + bytes([index, part])  # type: ignore[attr-defined]
            packets.append(packet)
            seq += 1
    return packets


def frame_ids(batch: FrameBatch | None) -> list[int]:
    return [data[-2] for data, _ in batch.frames] if batch is not None else []


def feed(buffer: VideoFrameAssembler, packets: list[RtpPacket]) -> tuple[list[int], int]:
    released, plis = [], 0
    for packet in packets:
        pli, batch = buffer.add(packet)
        plis += pli
        released += frame_ids(batch)
    return released, plis


def test_a_frame_is_released_by_its_last_packet_not_by_the_next_frame() -> None:
    buffer = VideoFrameAssembler(clock=Clock())
    packets = stream([(True, 3), (False, 1), (False, 2)])
    outputs = [frame_ids(buffer.add(p)[1]) for p in packets]
    assert outputs == [[], [], [0], [1], [], [2]]


def test_reordered_packets_release_every_frame_they_complete_with_its_timestamp() -> None:
    buffer = VideoFrameAssembler(clock=Clock())
    packets = stream([(True, 2), (False, 2), (False, 1), (False, 1)], first_seq=65534)
    order = [packets[0], packets[2], packets[3], packets[4], packets[1], packets[5]]
    pli, batch = False, None
    released = []
    for packet in order:
        pli, batch = buffer.add(packet)
        assert not pli
        if packet is packets[1]:
            assert frame_ids(batch) == [0, 1, 2]
            assert batch is not None
            # The sequence wrapped at 65535 and the timestamp at 2^32; offsets stay in order.
            assert [offset for _, offset in batch.frames] == [0, 3000, 6000]
        released += frame_ids(batch)
    assert released == [0, 1, 2, 3]
    # A duplicate and a late retransmission of a released packet are dropped.
    assert buffer.add(packets[1]) == (False, None)


def test_a_packet_never_resent_costs_the_frames_up_to_the_next_key_frame() -> None:
    clock = Clock()
    buffer = VideoFrameAssembler(clock=clock)
    packets = stream([(True, 1), (False, 2), (False, 1), (False, 1), (True, 2), (False, 1)])
    assert feed(buffer, packets[:1]) == ([0], 0)
    lost = packets[1]
    released, plis = feed(buffer, packets[2:5])
    assert (released, plis) == ([], 0), "frames behind the hole wait for its retransmission"
    clock.now += reassembly.HOLE_WAIT_S + 0.01
    released, plis = feed(buffer, packets[5:])
    assert released == [4, 5] and plis == 1, "resumed at the key frame, and asked for one"
    assert buffer.add(lost) == (False, None)
    assert buffer.holes_skipped == 1


def test_without_a_key_frame_held_it_asks_for_one_again_until_one_comes() -> None:
    clock = Clock()
    buffer = VideoFrameAssembler(clock=clock)
    packets = stream([(True, 1)] + [(False, 1)] * 30 + [(True, 1), (False, 1)])
    feed(buffer, packets[:1])
    del packets[1]  # lost for good
    released, plis = [], 0
    for packet in packets[1:]:
        clock.now += 0.1
        out = feed(buffer, [packet])
        released += out[0]
        plis += out[1]
    assert released == [31, 32]
    # Given up after HOLE_WAIT_S, then asked again every KEYFRAME_REPEAT_S until frame 31.
    assert 4 <= plis <= 7, plis


def test_a_stream_that_starts_without_a_key_frame_waits_for_one() -> None:
    buffer = VideoFrameAssembler(clock=Clock())
    packets = stream([(False, 1), (False, 1), (True, 2), (False, 1)])
    pli, batch = buffer.add(packets[0])
    assert pli and batch is None
    assert feed(buffer, packets[1:]) == ([2, 3], 0)


def test_held_packets_are_bounded_without_waiting_for_the_clock() -> None:
    buffer = VideoFrameAssembler(capacity=64, clock=Clock())
    packets = stream([(True, 1), (False, 2)] + [(False, 1)] * 100)
    feed(buffer, packets[:1])
    released, plis = feed(buffer, packets[2:])
    assert released == [] and plis >= 1
    assert len(buffer._held) <= 64


def test_padding_between_frames_makes_no_frame() -> None:
    buffer = VideoFrameAssembler(clock=Clock())
    key, delta = stream([(True, 1), (False, 1)])
    padding = RtpPacket(sequence_number=delta.sequence_number, timestamp=key.timestamp)
    padding._data = b""  # type: ignore[attr-defined]
    delta.sequence_number += 1
    assert frame_ids(buffer.add(key)[1]) == [0]
    assert buffer.add(padding) == (False, None)
    assert frame_ids(buffer.add(delta)[1]) == [1]


def test_the_tap_turns_a_batch_into_packets_on_each_frame_timestamp() -> None:
    batch = FrameBatch([(KEY, 4_294_967_000), (DELTA, 2000)])
    batch.timestamp = 90_000  # as aiortc's timestamp mapper sets it
    packets = EncodedFrameTap("video/VP8", 90000).decode(batch)
    assert [p.pts for p in packets] == [90_000, 90_000 + 2296]
    assert [p.is_keyframe for p in packets] == [True, False]
    assert packets[0].time_base == Fraction(1, 90000)


def test_a_lost_packet_is_asked_for_again_until_it_comes_or_the_tries_run_out() -> None:
    clock = Clock()
    nacks = reassembly.RepeatingNackGenerator(clock=clock)
    sent = []

    def arrive(seq: int) -> None:
        if nacks.add(RtpPacket(sequence_number=seq)):
            sent.append(sorted(nacks.missing))

    arrive(1)
    arrive(3)  # 2 is lost: asked at once, as aiortc does
    assert sent == [[2]]
    clock.now += reassembly.NACK_REPEAT_S / 2
    arrive(4)
    assert sent == [[2]], "not asked again before the repeat interval"
    for seq in range(5, 5 + reassembly.NACK_TRIES + 2):
        clock.now += reassembly.NACK_REPEAT_S
        arrive(seq)
    # Asked NACK_TRIES times in all, then given up.
    assert sent == [[2]] * reassembly.NACK_TRIES
    assert 2 not in nacks.missing
    # A retransmission that does come ends the asking for that packet.
    arrive(20)  # 10 .. 19 lost
    arrive(15)
    clock.now += reassembly.NACK_REPEAT_S
    arrive(21)
    assert sent[-1] == [10, 11, 12, 13, 14, 16, 17, 18, 19]


def test_a_key_frame_that_lost_a_packet_is_skipped_not_waited_for_again() -> None:
    # A lossy link breaks a key frame; then video pauses (the classroom went audio-only) and
    # resumes with a fresh key frame. The broken key frame heads the buffer: resuming "at the
    # first key frame held" used to pick it again on every skip, so nothing was released ever
    # after, until the agent rejoined.
    clock = Clock()
    buffer = VideoFrameAssembler(clock=clock)
    packets = stream([(True, 2), (False, 1), (True, 3), (False, 1), (True, 2), (False, 1)])
    released, _ = feed(buffer, packets[:3])
    assert released == [0, 1]
    broken_key = packets[3:6]
    feed(buffer, [broken_key[0], broken_key[2], packets[6]])  # its middle packet is lost
    clock.now += 11.0  # the pause
    fresh = packets[7:]
    released, _ = feed(buffer, fresh)
    assert released == [4, 5]
    clock.now += 1.0
    assert buffer.add(broken_key[1]) == (False, None)  # too late: given up on
