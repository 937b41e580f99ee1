"""Light subscribers for the fan-out bench: frames counted from the RTP header alone.

At 200 subscribers the load generator, not the hub, ran out of CPU: aiortc's receive path (its
RTP packet parse, jitter buffer, NACK generator and frame assembly) costs about 45 µs a packet,
1.25 of this box's 2 cores for 27,000 packets/s, and the subscribers fell to 4-11 fps while the
hub itself used 0.71 core. A light subscriber still does everything that proves delivery: ICE,
DTLS, and SRTP decryption with its authentication check for every packet (the datagram fast
path of ``streamhub.media.rtp_receive``). It then reads only the 12-byte RTP header: a video
frame is counted when the packet carrying its marker bit arrives, and a sequence-number gap in
the video stream is counted as lost packets, so a frame with a lost packet does not go unseen.
RTCP and everything else still take aiortc's own path.
"""

from __future__ import annotations

import asyncio
import struct
import time

from aiortc import RTCDtlsTransport, RTCPeerConnection

from streamhub.media import rtp_receive

_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC


class Tally:
    """What one subscriber has received of its video (and how many other packets)."""

    __slots__ = ("_next_seq", "first_at", "frames", "got_first", "lost", "other", "video_pts")

    def __init__(self, video_pts: set[int]) -> None:
        self.video_pts = video_pts
        self.frames = 0
        self.lost = 0
        self.other = 0  # audio, and video payload types this tally does not count (RTX)
        self.first_at: float | None = None
        self.got_first = asyncio.Event()
        self._next_seq: int | None = None

    def add(self, data: bytes) -> None:
        _, marker_pt, seq, _timestamp, _ssrc = _HEADER.unpack_from(data)
        if marker_pt & 0x7F not in self.video_pts:
            self.other += 1
            return
        if self._next_seq is None:
            self._next_seq = (seq + 1) & 0xFFFF
        else:
            gap = (seq - self._next_seq) & 0xFFFF
            if gap < 0x8000:  # else a late, reordered packet: counted lost when it was missed
                self.lost += gap
                self._next_seq = (seq + 1) & 0xFFFF
        if marker_pt & 0x80:
            self.frames += 1
            if self.first_at is None:
                self.first_at = time.monotonic()
                self.got_first.set()


_tallies: dict[RTCDtlsTransport, Tally] = {}
_receive_rtp = rtp_receive.receive_rtp


def _tally_or_receive(dtls: RTCDtlsTransport, data: bytes) -> None:
    tally = _tallies.get(dtls)
    if tally is None:
        _receive_rtp(dtls, data)
    else:
        tally.add(data)


def install() -> None:
    """Route decrypted RTP of watched connections to their tallies (this process only)."""
    rtp_receive.receive_rtp = _tally_or_receive


def watch(pc: RTCPeerConnection) -> Tally:
    """Count the video this negotiated connection receives (its primary codecs, not RTX)."""
    video_pts: set[int] = set()
    transports = set()
    for transceiver in pc.getTransceivers():
        transports.add(transceiver.receiver.transport)
        if transceiver.kind == "video":
            video_pts.update(
                codec.payloadType
                for codec in transceiver._codecs
                if codec.mimeType.lower() != "video/rtx" and codec.payloadType is not None
            )
    tally = Tally(video_pts)
    for transport in transports:
        _tallies[transport] = tally
    return tally


def forget(tally: Tally) -> None:
    for transport in [t for t, mine in _tallies.items() if mine is tally]:
        del _tallies[transport]
