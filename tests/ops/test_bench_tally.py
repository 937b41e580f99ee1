"""The fan-out bench's light subscribers (bench/rtp_tally.py) count only what really came."""

from __future__ import annotations

import struct

from bench.rtp_tally import Tally

VP8, RTX, OPUS = 97, 98, 111


def rtp(pt: int, seq: int, timestamp: int, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, timestamp, 1234) + b"x"


async def test_frames_are_counted_at_their_marker_and_gaps_as_lost_packets() -> None:
    tally = Tally({VP8})
    seq = 65533  # the sequence number wraps inside the stream
    for frame in range(3):
        for part in range(3):
            if (frame, part) != (1, 1):  # one packet of the second frame never comes
                tally.add(rtp(VP8, seq & 0xFFFF, frame * 3000, marker=part == 2))
            seq += 1
    tally.add(rtp(OPUS, 7, 960, marker=True))
    tally.add(rtp(RTX, 8, 3000, marker=True))

    assert tally.frames == 3
    assert tally.lost == 1
    assert tally.other == 2
    assert tally.got_first.is_set() and tally.first_at is not None


async def test_a_late_packet_is_not_a_loss() -> None:
    tally = Tally({VP8})
    for seq in (10, 12, 11, 13):
        tally.add(rtp(VP8, seq, 0))
    assert tally.lost == 1  # 11 was missing when 12 came; its late arrival is not counted again
    assert tally.frames == 0
