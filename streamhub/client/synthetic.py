"""Synthetic media for tests, benchmarks and headless agents.

The video pattern stamps its frame number into the picture as a row of black/white blocks that
survive VP8/H.264 compression, so a receiver can tell which publisher frame it got.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

COUNTER_BITS = 20
MAX_BLOCK = 16  # pixels per bit block, top-left of the picture


def block_size(width: int) -> int:
    # Blocks shrink on small test pictures; 8 px still survives VP8 at low bitrates.
    return max(4, min(MAX_BLOCK, width // COUNTER_BITS))


def stamp_counter(image: np.ndarray, value: int) -> None:
    block = block_size(image.shape[1])
    for bit in range(COUNTER_BITS):
        on = (value >> bit) & 1
        x = bit * block
        image[0:block, x : x + block] = 255 if on else 0


def read_counter(frame: av.VideoFrame) -> int:
    """The frame number stamped by PatternVideoTrack, read back from a decoded frame."""
    gray = frame.to_ndarray(format="gray")
    block = block_size(gray.shape[1])
    value = 0
    for bit in range(COUNTER_BITS):
        x = bit * block + block // 2
        if gray[block // 2, x] > 128:
            value |= 1 << bit
    return value


class PatternVideoTrack(MediaStreamTrack):
    """A moving test pattern with a frame counter, paced in real time."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.count = 0
        self.sent_at: dict[int, float] = {}
        self._start: float | None = None
        self._base = np.zeros((height, width, 3), np.uint8)
        ys, xs = np.mgrid[0:height, 0:width]
        self._base[..., 0] = (xs * 255 // max(width - 1, 1)).astype(np.uint8)
        self._base[..., 1] = (ys * 255 // max(height - 1, 1)).astype(np.uint8)

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self.count / self.fps
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        image = self._base.copy()
        bar = (self.count * 8) % self.width
        image[block_size(self.width) * 2 :, bar : bar + 16] = 255
        stamp_counter(image, self.count)
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = int(self.count * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.sent_at[self.count] = time.time()
        if len(self.sent_at) > 2000:
            self.sent_at.pop(next(iter(self.sent_at)))
        self.count += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A sine tone in 20 ms frames at 48 kHz, paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.3) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self.samples = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        rate, size = 48000, 960
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self.samples / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (np.arange(size) + self.samples) / rate
        wave = (self.amplitude * 32767 * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = self.samples
        frame.time_base = fractions.Fraction(1, rate)
        self.samples += size
        return frame
