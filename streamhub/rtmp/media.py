"""A push's media as the hub's forwarder takes them: encoded frames from a track.

Video is forwarded as it came (H.264 access units, Annex-B). Audio is the one transcode: AAC,
which WebRTC does not carry, to Opus, in one thread per push (``AudioPipeline``), so PyAV's
decoding and encoding never run on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)

VIDEO_CLOCK = fractions.Fraction(1, 90000)
AUDIO_CLOCK = fractions.Fraction(1, 48000)
OPUS_FRAME = 960  # 20 ms at 48 kHz, what WebRTC receivers expect
OPUS_BITRATE = 64000
# AAC frames waiting for the audio thread (~1 s): beyond, the oldest are dropped.
AUDIO_BACKLOG = 48


class PacketTrack(MediaStreamTrack):
    """Encoded frames put by the bridge, read by the hub's ``TrackSource``. Bounded: the source
    reads each frame on the loop turn it was put, so a backlog means a starved loop, and the
    oldest frames go."""

    def __init__(self, kind: str, max_frames: int = 120) -> None:
        super().__init__()
        self.kind = kind
        self._max = max_frames
        self._queue: collections.deque[av.Packet[Any]] = collections.deque()
        self._ready = asyncio.Event()
        self.dropped = 0

    def put(self, packet: av.Packet[Any]) -> None:
        if self.readyState != "live":
            return
        if len(self._queue) >= self._max:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(packet)
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def stop(self) -> None:
        super().stop()
        self._ready.set()


def video_packet(annexb: bytes, timestamp_ms: int, keyframe: bool) -> av.Packet[Any]:
    packet = av.Packet(annexb)
    packet.pts = packet.dts = timestamp_ms * 90
    packet.time_base = VIDEO_CLOCK
    packet.is_keyframe = keyframe
    return packet


class AacToOpus:
    """AAC frames (with their AudioSpecificConfig) to 20 ms Opus packets. Not thread-safe:
    one instance, one thread."""

    def __init__(self, config: bytes, first_pts: int = 0) -> None:
        self.config = config
        self.first_pts = first_pts
        self.decoder = av.CodecContext.create("aac", "r")
        self.decoder.extradata = config
        self.resampler = av.AudioResampler(
            format="s16", layout="stereo", rate=48000, frame_size=OPUS_FRAME
        )
        encoder = av.CodecContext.create("libopus", "w")
        encoder.sample_rate = 48000
        encoder.layout = "stereo"
        encoder.format = "s16"
        encoder.bit_rate = OPUS_BITRATE
        encoder.time_base = AUDIO_CLOCK
        encoder.open()
        self.encoder = encoder
        self.samples = 0  # samples handed to the encoder
        self.sent = 0  # Opus packets out

    @property
    def next_pts(self) -> int:
        return self.first_pts + self.sent * OPUS_FRAME

    def transcode(self, frame: bytes) -> list[av.Packet[Any]]:
        out: list[av.Packet[Any]] = []
        for decoded in self.decoder.decode(av.Packet(frame)):
            decoded.pts = None
            for chunk in self.resampler.resample(decoded):
                chunk.pts = self.samples
                self.samples += chunk.samples
                for encoded in self.encoder.encode(chunk):
                    packet = av.Packet(bytes(encoded))
                    # Every Opus packet here is 20 ms: its place in the stream is its count
                    # (the encoder's own pts start before 0, by its look-ahead).
                    packet.pts = packet.dts = self.next_pts
                    packet.time_base = AUDIO_CLOCK
                    self.sent += 1
                    out.append(packet)
        return out


class AudioPipeline:
    """One push's audio: AAC in from the connection, Opus out to ``track``. Its task and its
    thread are owned here and ended by ``close``."""

    def __init__(self, track: PacketTrack, label: str) -> None:
        self.track = track
        self.label = label
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rtmp-audio-{label}")
        self._queue: collections.deque[tuple[bytes | None, bytes | None]] = collections.deque()
        self._ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"rtmp-audio:{label}")
        self.dropped = 0
        self.errors = 0

    def config(self, config: bytes) -> None:
        self._put((config, None))

    def frame(self, frame: bytes) -> None:
        self._put((None, frame))

    def _put(self, item: tuple[bytes | None, bytes | None]) -> None:
        if len(self._queue) >= AUDIO_BACKLOG:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(item)
        self._ready.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        transcoder: AacToOpus | None = None
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            config, frame = self._queue.popleft()
            try:
                if config is not None and (transcoder is None or config != transcoder.config):
                    # A new configuration (the box restarted its encoder): the sound's clock
                    # goes on where it was, never back.
                    start = transcoder.next_pts if transcoder is not None else 0
                    transcoder = await loop.run_in_executor(self._pool, AacToOpus, config, start)
                elif frame is not None and transcoder is not None:
                    for packet in await loop.run_in_executor(
                        self._pool, transcoder.transcode, frame
                    ):
                        self.track.put(packet)
            except (av.FFmpegError, ValueError) as exc:
                # A broken frame costs its 20 ms of sound, not the push.
                self.errors += 1
                if self.errors in (1, 100):
                    logger.warning("rtmp %s: audio frame not transcoded: %s", self.label, exc)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        # The thread finishes the frame it has (a millisecond) and ends; nothing waits for it.
        self._pool.shutdown(wait=False, cancel_futures=True)
