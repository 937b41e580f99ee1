"""Pre-encoded media for load generators: a clip encoded once, then looped as packets.

Encoding a camera per simulated classroom would make the load generator, not the hub, what a
benchmark measures. ``encode_video_clip``/``encode_audio_clip`` encode a few seconds once per
process; each ``ClipTrack`` then yields the clip's packets in real time (aiortc senders only
packetize ``av.Packet``s). A clip starts with a key frame and loops back to it, and a key-frame
request (PLI) from the hub restarts the clip at that key frame, so the stream a receiver decodes
is always valid: a key frame, then the deltas that follow it in the clip.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack
from av.video.codeccontext import VideoCodecContext

VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000
OPUS_FRAME = 960  # 20 ms at 48 kHz


@dataclass(frozen=True)
class Clip:
    """Encoded frames (bytes, is key frame), their duration in clock ticks, and the clock."""

    kind: str
    codec: str
    frames: list[tuple[bytes, bool]]
    step: int
    clock: int

    @property
    def fps(self) -> float:
        return self.clock / self.step

    @property
    def bitrate_kbps(self) -> float:
        total = sum(len(data) for data, _ in self.frames)
        return total * 8 / (len(self.frames) / self.fps) / 1000


def _pattern(width: int, height: int, index: int, rng: np.random.Generator) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (xs * 255 // max(width - 1, 1) + index * 3) % 256
    image[..., 1] = (ys * 255 // max(height - 1, 1)) % 256
    image[..., 2] = 128
    bar = (index * 8) % width
    image[:, bar : bar + 24] = 255
    # Some texture, so the encoder spends roughly its bitrate as a camera would.
    image ^= rng.integers(0, 24, size=image.shape, dtype=np.uint8)
    return image


def encode_video_clip(
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    seconds: float = 4.0,
    bitrate_kbps: int = 400,
    codec: str = "VP8",
) -> Clip:
    """``seconds`` of a moving pattern, one key frame at the start (CPU work: a second or so)."""
    name = {"VP8": "libvpx", "H264": "libx264"}[codec.upper()]
    context = av.CodecContext.create(name, "w")
    assert isinstance(context, VideoCodecContext)
    context.width, context.height = width, height
    context.pix_fmt = "yuv420p"
    context.time_base = fractions.Fraction(1, fps)
    context.framerate = fractions.Fraction(fps, 1)
    context.bit_rate = bitrate_kbps * 1000
    count = max(2, round(seconds * fps))
    context.gop_size = count + 1  # the clip's only key frame is its first
    if name == "libx264":
        context.options = {"preset": "veryfast", "tune": "zerolatency", "profile": "baseline"}
    else:
        context.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    rng = np.random.default_rng(7)
    frames: list[tuple[bytes, bool]] = []
    for index in range(count + 1):
        picture = (
            av.VideoFrame.from_ndarray(_pattern(width, height, index, rng), format="bgr24")
            if index < count
            else None
        )
        if picture is not None:
            picture.pts = index
            picture = picture.reformat(format="yuv420p")
        for packet in context.encode(picture):
            frames.append((bytes(packet), bool(packet.is_keyframe)))
    if not frames or not frames[0][1]:
        raise RuntimeError("the encoder did not start the clip with a key frame")
    return Clip("video", codec.upper(), frames, VIDEO_CLOCK // fps, VIDEO_CLOCK)


def encode_audio_clip(seconds: float = 1.0, frequency: float = 440.0) -> Clip:
    """``seconds`` of a tone as Opus packets of 20 ms."""
    context = av.CodecContext.create("libopus", "w")
    context.sample_rate = AUDIO_CLOCK
    context.layout = "stereo"
    context.format = "s16"
    context.bit_rate = 48000
    context.time_base = fractions.Fraction(1, AUDIO_CLOCK)
    frames: list[tuple[bytes, bool]] = []
    total = int(seconds * AUDIO_CLOCK) // OPUS_FRAME
    for index in range(total + 1):
        if index < total:
            t = (np.arange(OPUS_FRAME) + index * OPUS_FRAME) / AUDIO_CLOCK
            wave = (0.3 * 32767 * np.sin(2 * math.pi * frequency * t)).astype(np.int16)
            samples = av.AudioFrame.from_ndarray(
                np.repeat(wave.reshape(1, -1), 2, axis=0).reshape(1, -1),
                format="s16",
                layout="stereo",
            )
            samples.sample_rate = AUDIO_CLOCK
            samples.pts = index * OPUS_FRAME
            encoded = context.encode(samples)
        else:
            encoded = context.encode(None)
        frames += [(bytes(p), True) for p in encoded]
    return Clip("audio", "OPUS", frames, OPUS_FRAME, AUDIO_CLOCK)


class ClipTrack(MediaStreamTrack):
    """A clip's packets in real time, looped; ``request_keyframe`` restarts at its key frame."""

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.kind = clip.kind
        self.clip = clip
        self.sent = 0
        self.keyframes_requested = 0
        self._time_base = fractions.Fraction(1, clip.clock)
        self._position = 0
        self._start: float | None = None

    def request_keyframe(self) -> None:
        """The receiving end lost the picture (or just joined): go back to the key frame."""
        self.keyframes_requested += 1
        self._position = 0

    async def recv(self) -> av.Packet[Any]:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self.sent * self.clip.step / self.clip.clock - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        data, is_key = self.clip.frames[self._position]
        self._position = (self._position + 1) % len(self.clip.frames)
        packet = av.Packet(data)
        packet.pts = packet.dts = self.sent * self.clip.step
        packet.time_base = self._time_base
        packet.is_keyframe = is_key
        self.sent += 1
        return packet
