"""The video receive buffer: whole frames out as soon as they are whole, a lost packet waited
for briefly, then the broken frames dropped and the stream resumed at a key frame."""

from __future__ import annotations

from fractions import Fraction

from aiortc.rtp import RtpPacket
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streamhub.media import reassembly
from streamhub.media.aiortc_hooks import EncodedFrameTap
from streamhub.media.reassembly import FrameBatch, VideoFrameAssembler

# A VP8 key frame's and a delta frame's first bytes (a first partition of 0 bytes declared).
KEY = b"\x10\x00\x00\x9d\x01\x2a" + bytes(10)
DELTA = b"\x11\x00\x00" + bytes(10)
# RFC 7741 payload descriptors: the first packet of a frame (S=1, PID=0), and the others.
FIRST, REST = b"\x10", b"\x00"


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
            packet.payload = (FIRST if part == 0 else REST) + packet._data  # type: ignore[attr-defined]
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


def vp8_key_frame(first_partition: int, size: int) -> bytes:
    """A VP8 key frame of ``size`` bytes whose tag declares ``first_partition`` bytes."""
    tag = (first_partition << 5) | 0x10  # key frame, shown
    header = tag.to_bytes(3, "little") + b"\x9d\x01\x2a" + (640).to_bytes(2, "little")
    header += (480).to_bytes(2, "little")
    return header + bytes((i * 7) % 251 for i in range(size - len(header)))


def packets_of(frame: bytes, seq: int, timestamp: int, per_packet: int) -> list[RtpPacket]:
    """A frame cut into packets the way a browser's VP8 packetizer does (equal sizes)."""
    chunks = [frame[i : i + per_packet] for i in range(0, len(frame), per_packet)]
    packets = []
    for i, chunk in enumerate(chunks):
        packet = RtpPacket(
            sequence_number=(seq + i) % 65536, timestamp=timestamp, marker=i == len(chunks) - 1
        )
        packet._data = chunk  # type: ignore[attr-defined]
        packet.payload = (FIRST if i == 0 else REST) + chunk
        packets.append(packet)
    return packets


def released_frames(buffer: VideoFrameAssembler, packets: list[RtpPacket]) -> list[bytes]:
    out = []
    for packet in packets:
        _, batch = buffer.add(packet)
        out += [data for data, _ in batch.frames] if batch is not None else []
    return out


def test_a_key_frame_is_never_released_cut_at_a_packet_of_another_timestamp() -> None:
    """The truncated first key frame of issue 13 (2,004 bytes of a declared 2,219): a browser
    sends a 5,010-byte key frame in five 1,002-byte packets; a padding packet stamped with
    another time sits in the sequence after the second. The buffer released the first two
    packets as a frame (cut inside its first partition) and the last three as another."""
    clock = Clock()
    key = vp8_key_frame(2209, 5010)
    packets = packets_of(key, 100, 90_000, 1002)
    padding = RtpPacket(sequence_number=102, timestamp=87_000)
    padding._data = b""  # type: ignore[attr-defined]
    for packet in packets[2:]:
        packet.sequence_number += 1
    delta = packets_of(DELTA + bytes(400), 106, 93_000, 1002)
    buffer = VideoFrameAssembler(clock=clock)
    out = released_frames(buffer, [*packets[:2], padding, *packets[2:], *delta])
    assert [len(f) for f in out] == [5010, len(DELTA) + 400], [len(f) for f in out]
    assert out[0] == key


def test_a_frame_cut_by_a_foreign_packet_is_dropped_and_a_key_frame_asked_for() -> None:
    """A packet of another timestamp that does not begin a frame (a packet of some other
    stream) leaves the frame's end unknown: neither half is released, a key frame is asked
    for, and the stream resumes at the next key frame whole."""
    clock = Clock()
    key = vp8_key_frame(2209, 5010)
    packets = packets_of(key, 100, 90_000, 1002)
    stray = RtpPacket(sequence_number=102, timestamp=12_345)
    stray._data = bytes(300)  # type: ignore[attr-defined]
    stray.payload = REST + stray._data
    for packet in packets[2:]:
        packet.sequence_number += 1
    delta = packets_of(DELTA + bytes(400), 106, 93_000, 1002)
    second = vp8_key_frame(1500, 3000)
    after = packets_of(second, 107, 96_000, 1002)
    buffer = VideoFrameAssembler(clock=clock)
    plis = 0
    out = []
    for packet in [*packets[:2], stray, *packets[2:], *delta, *after]:
        pli, batch = buffer.add(packet)
        plis += pli
        out += [data for data, _ in batch.frames] if batch is not None else []
    assert out == [second]
    assert plis >= 1
    assert buffer.broken_frames >= 1


def test_a_frame_shorter_than_its_first_partition_is_never_released() -> None:
    """Whatever cut it, a VP8 frame that does not hold the first partition its header
    declares is not a frame to record or forward."""
    clock = Clock()
    cut = vp8_key_frame(2209, 5010)[:2004]
    buffer = VideoFrameAssembler(clock=clock)
    out = released_frames(buffer, packets_of(cut, 7, 1000, 1002))
    assert out == []
    assert buffer.broken_frames == 1


def test_a_key_frame_whose_tail_never_comes_is_left_for_the_next_key_frame() -> None:
    """The hole is in the key frame the buffer resumed at: it must not resume at that same
    key frame again and again (a freeze until 512 packets have piled up)."""
    clock = Clock()
    buffer = VideoFrameAssembler(clock=clock)
    packets = stream([(True, 3)] + [(False, 1)] * 5 + [(True, 2)] + [(False, 1)] * 4)
    del packets[1]  # the first key frame's middle packet, lost for good
    released = []
    for packet in packets:
        clock.now += 0.1
        released += feed(buffer, [packet])[0]
    assert released == [6, 7, 8, 9, 10]


def test_frame_starts_and_declared_sizes() -> None:
    from streamhub.media.codecs import begins_frame, vp8_whole

    assert begins_frame(FIRST + KEY, KEY)
    assert not begins_frame(REST + bytes(8), bytes(8))
    assert not begins_frame(b"\x11" + bytes(8), bytes(8)), "S set on partition 1"
    assert begins_frame(b"", b""), "padding"
    fu_a_continuation = bytes([0x7C, 0x05]) + bytes(8)
    assert not begins_frame(fu_a_continuation, bytes(8))
    assert begins_frame(bytes([0x65, 0x88]), b"\x00\x00\x00\x01\x65\x88")
    key = vp8_key_frame(2209, 5010)
    assert vp8_whole(key)
    assert vp8_whole(key[:2219]) and not vp8_whole(key[:2218])
    assert not vp8_whole(key[:2004])
    assert vp8_whole(DELTA) and not vp8_whole(b"\x11\x00")


MOVES = ["drop", "dup", "swap", "pad", "unmark", "wait"]


class WalkEveryTime(VideoFrameAssembler):
    """The assembler without its in-order shortcut: every packet walks the held run."""

    def add(self, packet: RtpPacket) -> tuple[bool, FrameBatch | None]:
        self._open = None
        return super().add(packet)


@settings(max_examples=300, deadline=None)
@example(frames=[(True, 2), (False, 2), (False, 2)], first_seq=65535, moves=[(1, "unmark")])
@example(frames=[(True, 3), (False, 3)], first_seq=7, moves=[(4, "drop"), (0, "wait")])
@given(
    frames=st.lists(st.tuples(st.booleans(), st.integers(1, 6)), min_size=1, max_size=14),
    first_seq=st.integers(0, 65535),
    moves=st.lists(
        st.tuples(st.integers(0, 80), st.sampled_from("drop dup swap pad wait")), max_size=10
    ),
)
def test_the_in_order_shortcut_releases_what_walking_every_time_releases(
    frames: list[tuple[bool, int]], first_seq: int, moves: list[tuple[int, str]]
) -> None:
    packets = stream([(True, frames[0][1]), *frames[1:]], first_seq)
    steps: list[RtpPacket | None] = list(packets)  # None: the clock moves on
    for at, move in moves:  # losses, duplicates, reordering, padding, no marker, time passing
        at %= len(steps)
        if move == "drop":
            del steps[at]
        elif move == "dup":
            steps.insert(at, steps[at])
        elif move == "swap" and at + 1 < len(steps):
            steps[at], steps[at + 1] = steps[at + 1], steps[at]
        elif move == "pad" and steps[at] is not None:
            padding = RtpPacket(sequence_number=steps[at].sequence_number, timestamp=0)
            padding._data = b""  # type: ignore[attr-defined]
            steps[at] = padding
        elif move == "unmark" and steps[at] is not None:  # a sender that does not mark ends
            unmarked = RtpPacket(
                sequence_number=steps[at].sequence_number, timestamp=steps[at].timestamp
            )
            unmarked._data = steps[at]._data  # type: ignore[attr-defined]
            unmarked.payload = steps[at].payload
            steps[at] = unmarked
        elif move == "wait":
            steps.insert(at, None)
        if not steps:
            return
    clocks = Clock(), Clock()
    ours, walking = VideoFrameAssembler(clock=clocks[0]), WalkEveryTime(clock=clocks[1])
    for step in steps:
        if step is None:
            for clock in clocks:
                clock.now += reassembly.HOLE_WAIT_S * 0.6
            continue
        (pli, batch), (their_pli, their_batch) = ours.add(step), walking.add(step)
        assert pli == their_pli
        assert (batch.frames if batch else None) == (their_batch.frames if their_batch else None)
    assert sorted(ours._held) == sorted(walking._held)
