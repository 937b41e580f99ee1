"""Crash-safe segment files: one Matroska file per track per period, written packet by packet
with PyAV (remux only, no decoding) and flushed as it goes, so a killed process loses at most
the last cluster (about a second)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000
# Matroska muxer: close a cluster every second and flush every packet to the file.
MUXER_OPTIONS = {"flush_packets": "1", "cluster_time_limit": "1000"}


def h264_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height of an H.264 key frame, by decoding it (once per segment, never per
    frame: parsing SPS by hand is not worth the risk)."""
    decoder = av.CodecContext.create("h264", "r")
    try:
        for frame in decoder.decode(av.Packet(data)):
            return frame.width, frame.height
        for frame in decoder.decode(None):
            return frame.width, frame.height
    except av.FFmpegError:
        return None
    return None


def vp8_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 key frame header (RFC 6386 9.1), else None."""
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


class Segment:
    """One open segment file of one track."""

    def __init__(
        self,
        path: Path,
        kind: str,
        codec: str,
        dimensions: tuple[int, int] | None = None,
    ) -> None:
        self.path = path
        self.kind = kind
        self.codec = codec
        self.dimensions = dimensions
        self.container = av.open(str(path), "w", format="matroska", options=MUXER_OPTIONS)
        if kind == "video":
            width, height = dimensions or (640, 480)
            # Matroska needs the picture size in its header: it is given at creation.
            self.stream = self.container.add_mux_stream(
                codec, width=width, height=height, time_base=Fraction(1, VIDEO_CLOCK)
            )
            self.clock = VIDEO_CLOCK
        else:
            # An encoder context (never used to encode) gives the file a proper OpusHead.
            self.stream = self.container.add_stream("libopus", rate=AUDIO_CLOCK, layout="stereo")
            self.stream.time_base = Fraction(1, AUDIO_CLOCK)
            self.clock = AUDIO_CLOCK
        self.last_pts = -1
        self.packets = 0
        self.bytes = 0
        self.first_t: float | None = None
        self.last_t: float | None = None

    def write(self, data: bytes, t: float, keyframe: bool) -> None:
        """Mux one encoded frame at ``t`` seconds on the lesson's timeline."""
        pts = max(round(t * self.clock), self.last_pts + 1)
        packet = av.Packet(data)
        packet.stream = self.stream
        # The muxer rewrites the stream's time base (Matroska: 1 ms): stamp in our own clock.
        packet.time_base = Fraction(1, self.clock)
        packet.pts = packet.dts = pts
        packet.is_keyframe = keyframe
        self.container.mux(packet)
        self.last_pts = pts
        self.packets += 1
        self.bytes += len(data)
        if self.first_t is None:
            self.first_t = t
        self.last_t = t

    def close(self) -> None:
        try:
            self.container.close()
        except av.FFmpegError:
            pass
