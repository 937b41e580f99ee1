"""--record-received: the lecturer's video and audio as received, remuxed into one Matroska
file with PyAV (no decoding). Muxing runs on one worker thread, in arrival order.

Each session's packets keep their RTP spacing (pts from packet.pts * time_base) and are placed
on the file's timeline by arrival time, so a rejoin after a reconnect continues the file.
The file opens at the first video key frame, whose header gives the picture size.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from recorder.segments import AUDIO_CLOCK, MUXER_OPTIONS, VIDEO_CLOCK, vp8_dimensions

logger = logging.getLogger(__name__)

# Packets waiting for the worker; beyond it, audio packets are dropped and video up to its
# next key frame (a delta frame without its predecessors is useless in the file).
MAX_PENDING = 500


class _Timeline:
    """Maps one received track's packet times onto the file's clock (seconds)."""

    def __init__(self) -> None:
        self.offset: float | None = None
        self.generation = -1

    def place(self, media_t: float, arrival_t: float, generation: int) -> float:
        if self.offset is None or generation != self.generation:
            self.offset = arrival_t - media_t
            self.generation = generation
        return media_t + self.offset


class ReceivedRecorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.container: av.container.OutputContainer | None = None
        self.video: av.stream.Stream | None = None
        self.audio: av.stream.Stream | None = None
        self.started = time.monotonic()
        self.generation = 0
        self.video_packets = 0
        self.audio_packets = 0
        self.dropped = 0
        self._timelines = {"video": _Timeline(), "audio": _Timeline()}
        self._last_pts = {"video": -1, "audio": -1}
        self._pending = 0
        # Packets not written because the disk was behind (``dropped``: refused by the muxer).
        self.dropped_behind = 0
        self._skipping_video = False
        self._writes: set[asyncio.Future[None]] = set()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-recorder")
        self._closed = False
        self._closing = False

    def new_session(self) -> None:
        """A new session starts: its RTP clocks begin anew."""
        self.generation += 1

    def write(self, kind: str, packet: av.Packet[Any]) -> None:
        """Queue one received packet (video: VP8 frame; audio: Opus packet) for the worker,
        without waiting for the disk: receiving, showing and playing never wait on it."""
        if self._closing or packet.pts is None or packet.time_base is None:
            return
        keyframe = bool(packet.is_keyframe)
        if kind == "video" and keyframe:
            self._skipping_video = False
        if self._pending >= MAX_PENDING or (kind == "video" and self._skipping_video):
            self._skipping_video = self._skipping_video or kind == "video"
            self.dropped_behind += 1
            return
        arrival = time.monotonic() - self.started
        media_t = float(packet.pts * packet.time_base)
        t = self._timelines[kind].place(media_t, arrival, self.generation)
        data = bytes(packet)
        self._pending += 1
        written = asyncio.get_running_loop().run_in_executor(
            self._worker, self._mux, kind, data, t, keyframe
        )
        self._writes.add(written)
        written.add_done_callback(self._written)

    def _written(self, written: asyncio.Future[None]) -> None:
        self._pending -= 1
        self._writes.discard(written)
        if not written.cancelled() and written.exception() is not None:
            logger.error("recording: writing a packet failed", exc_info=written.exception())

    def _open(self, dimensions: tuple[int, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(self.path), "w", format="matroska", options=MUXER_OPTIONS)
        # PyAV 18: a mux stream's size must be given here; setting attributes later is a no-op.
        width, height = dimensions
        video = container.add_mux_stream("vp8", width=width, height=height)
        video.time_base = Fraction(1, VIDEO_CLOCK)
        # An encoder context (never used to encode) gives the file a proper OpusHead.
        audio = container.add_stream("libopus", rate=AUDIO_CLOCK, layout="stereo")
        audio.time_base = Fraction(1, AUDIO_CLOCK)
        self.container, self.video, self.audio = container, video, audio
        logger.info("recording received media to %s (%dx%d)", self.path, *dimensions)

    def _mux(self, kind: str, data: bytes, t: float, keyframe: bool) -> None:
        if self._closed:
            return
        if self.container is None:
            dimensions = vp8_dimensions(data) if kind == "video" and keyframe else None
            if dimensions is None:
                return  # wait for the first key frame
            self._open(dimensions)
        stream = self.video if kind == "video" else self.audio
        assert stream is not None and self.container is not None
        clock = VIDEO_CLOCK if kind == "video" else AUDIO_CLOCK
        pts = max(round(t * clock), self._last_pts[kind] + 1)
        packet = av.Packet(data)
        packet.stream = stream
        packet.time_base = Fraction(1, clock)
        packet.pts = packet.dts = pts
        packet.is_keyframe = keyframe
        try:
            self.container.mux(packet)
        except av.FFmpegError as exc:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000):
                logger.warning("recording: dropped %d packets (last: %s)", self.dropped, exc)
            return
        self._last_pts[kind] = pts
        if kind == "video":
            self.video_packets += 1
        else:
            self.audio_packets += 1

    def _close(self) -> None:
        self._closed = True
        if self.container is not None:
            try:
                self.container.close()
            except av.FFmpegError as exc:
                logger.warning("recording: closing %s failed: %s", self.path, exc)

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        await asyncio.get_running_loop().run_in_executor(self._worker, self._close)
        self._worker.shutdown(wait=True)
