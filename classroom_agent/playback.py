"""--audio-output device|none: the lecturer's voice on the loudspeaker (sounddevice, imported
only when used). What is played is fed to the echo canceller as the far end."""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import numpy as np

from classroom_agent.echo import EchoCanceller

logger = logging.getLogger(__name__)

RATE = 48_000
MAX_BUFFER = RATE // 5  # 200 ms: beyond it, drop the oldest samples to stay live


class Playback(Protocol):
    wants_samples: bool

    def play(self, samples: np.ndarray) -> None:
        """Queue mono int16 samples at 48 kHz (thread-safe, never blocks)."""

    def close(self) -> None: ...


class NullPlayback:
    wants_samples = False

    def play(self, samples: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


class DevicePlayback:
    wants_samples = True

    def __init__(self, echo: EchoCanceller | None = None) -> None:
        import sounddevice

        self.echo = echo
        self._lock = threading.Lock()
        self._buffer = np.zeros(0, np.int16)
        self._stream = sounddevice.OutputStream(
            samplerate=RATE, channels=1, dtype="int16", blocksize=480, callback=self._pull
        )
        self._stream.start()

    def play(self, samples: np.ndarray) -> None:
        with self._lock:
            self._buffer = np.concatenate([self._buffer, samples.astype(np.int16, copy=False)])
            if len(self._buffer) > MAX_BUFFER:
                self._buffer = self._buffer[-MAX_BUFFER:]

    def _pull(self, out: np.ndarray, frames: int, when: Any, status: Any) -> None:
        with self._lock:
            chunk, self._buffer = self._buffer[:frames], self._buffer[frames:]
        block = np.zeros(frames, np.int16)
        block[: len(chunk)] = chunk
        out[:, 0] = block
        if self.echo is not None:
            self.echo.feed_far(block)

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def open_playback(kind: str, echo: EchoCanceller | None) -> Playback:
    if kind == "none":
        return NullPlayback()
    try:
        return DevicePlayback(echo)
    except Exception as exc:  # PortAudio missing or no output device
        logger.warning("audio output unavailable (%s): playing nothing", exc)
        return NullPlayback()
