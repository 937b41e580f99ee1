"""Acoustic echo cancellation: the WebRTC audio processing module through livekit's binding.

The far end (what the agent plays) goes in with ``feed_far``; the microphone goes through
``process_near``. Both take mono int16 at 48 kHz in any length; the module works in 10 ms
blocks, so each side keeps its remainder until the next call.

The module is told how long a sample takes from the far end's callback to the loudspeaker and
from the microphone to the near end's callback (the two streams' latencies): the echo it must
find is that much later than what it was fed. AEC3 estimates the rest of the delay itself.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

RATE = 48_000
BLOCK = RATE // 100  # 10 ms, the only frame length the module accepts


class EchoCanceller:
    def __init__(self, *, delay_ms: int | None = None, high_pass_filter: bool = True) -> None:
        from livekit import rtc  # imported lazily: its native library is large

        self._rtc = rtc
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=True,
            noise_suppression=False,
            high_pass_filter=high_pass_filter,
            auto_gain_control=False,
        )
        self._delay_ms = delay_ms  # None: the streams' latencies, as they report them
        self._far_latency_s = 0.0
        self._near_latency_s = 0.0
        self._far = np.zeros(0, np.int16)
        self._near = np.zeros(0, np.int16)
        self._lock = threading.Lock()  # playback and capture run on different threads

    def feed_far(self, samples: np.ndarray, latency_s: float = 0.0) -> None:
        """Give the module what the loudspeaker plays (mono int16, 48 kHz), ``latency_s``
        before it is heard."""
        with self._lock:
            self._far_latency_s = latency_s
            self._far = np.concatenate([self._far, samples.astype(np.int16, copy=False)])
            while len(self._far) >= BLOCK:
                block, self._far = self._far[:BLOCK], self._far[BLOCK:]
                self._apm.process_reverse_stream(self._frame(block))

    @property
    def delay_ms(self) -> int:
        if self._delay_ms is not None:
            return self._delay_ms
        return round(1000 * (self._far_latency_s + self._near_latency_s))

    def process_near(self, samples: np.ndarray, latency_s: float = 0.0) -> np.ndarray:
        """Return the microphone with the echo removed (the output lags by under 10 ms);
        ``latency_s``: how long ago these samples reached the microphone."""
        out: list[np.ndarray] = []
        with self._lock:
            self._near_latency_s = latency_s
            self._near = np.concatenate([self._near, samples.astype(np.int16, copy=False)])
            while len(self._near) >= BLOCK:
                block, self._near = self._near[:BLOCK], self._near[BLOCK:]
                frame = self._frame(block)
                self._apm.set_stream_delay_ms(self.delay_ms)
                self._apm.process_stream(frame)
                out.append(np.frombuffer(bytes(frame.data), np.int16))
        if not out:
            return np.zeros(0, np.int16)
        return np.concatenate(out)

    def _frame(self, block: np.ndarray) -> Any:
        return self._rtc.AudioFrame(bytearray(block.tobytes()), RATE, 1, BLOCK)
