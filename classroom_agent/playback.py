"""--audio-output default|NAME|none: the lecturer's voice on the room's loudspeakers.

Packets arrive in bursts; the loudspeaker takes 10 ms every 10 ms. Between them a jitter
buffer holds a steady ``target_ms``: playback starts once that much is queued; if it runs dry
(a network stall) it plays silence and waits to fill up again rather than stutter sample by
sample, and holds 40 ms more from then on (up to 400 ms; given back 10 ms per calm 10 s): a
busy old PC or a bursty link buys itself a steady, slightly longer delay instead of gaps. The
sender's clock and the sound card's never agree exactly: while the buffer's low point stays
over 50 ms above the target, playout runs 0.5 % faster (resampled: inaudible), so the delay
does not creep up; only a backlog of over 150 ms (the start, a burst after a stall) is cut
back at once.
The device buffer itself is generous (``device_latency_s``): a busy old PC must not make it
crackle.

What the callback writes to the device (silence included) is the echo canceller's far end:
exactly what the loudspeaker plays, in step with it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import numpy as np

from classroom_agent.echo import EchoCanceller
from classroom_agent.health import Device, DeviceState, Health
from classroom_agent.sound_device import KeptStream

logger = logging.getLogger(__name__)

RATE = 48_000
BLOCK = RATE // 100  # 10 ms
# Sound cards' clocks are off by well under 0.1 %: a 0.5 % nudge catches up with any of them
# and moves a voice's pitch by less than anyone hears.
DRIFT = 0.005
WINDOW_PULLS = 100  # one second of 10 ms blocks
CATCH_UP = RATE * 150 // 1000  # this far above the target, cut rather than hurry


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


class JitterBuffer:
    """Samples in, fixed-size blocks out, at a steady depth (thread-safe)."""

    def __init__(self, target_ms: int = 80, max_ms: int = 240, ceiling_ms: int = 400) -> None:
        self.base = self.target = RATE * target_ms // 1000
        self.margin = RATE * (max_ms - target_ms) // 1000  # the limit, above the target
        self.ceiling = RATE * ceiling_ms // 1000
        self.limit = self.target + self.margin
        self._calm = 0  # seconds without running dry
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._queued = 0
        self._playing = False
        # Packets come every 20 ms and the device takes its blocks in bursts: the lowest depth
        # in a second swings by tens of ms by itself; leave it alone within 50 ms.
        self.slack = RATE * 50 // 1000
        self.underruns = 0  # times it ran dry while playing: audible gaps
        self.dropped_samples = 0  # cut after a burst beyond the limit
        self.stretched_samples = 0  # net samples played faster (+) or slower (-) for drift
        self._low = self.limit
        self._pulls = 0
        self._speed = 1.0

    def push(self, samples: np.ndarray) -> None:
        with self._lock:
            self._chunks.append(samples.astype(np.int16, copy=False))
            self._queued += len(samples)
            if self._queued > self.limit:
                self._drop(self._queued - self.target)

    def _drop(self, count: int) -> None:
        self.dropped_samples += count
        while count > 0 and self._chunks:
            head = self._chunks[0]
            if len(head) <= count:
                self._chunks.pop(0)
                self._queued -= len(head)
                count -= len(head)
            else:
                self._chunks[0] = head[count:]
                self._queued -= count
                count = 0

    def pull(self, frames: int) -> np.ndarray:
        with self._lock:
            if not self._playing:
                if self._queued < self.target:
                    return np.zeros(frames, np.int16)
                self._playing = True
            take = round(frames * self._rate())
            if self._queued < take:
                self._playing = False  # dry: wait for the target again
                self.underruns += 1
                self._adapt(dry=True)
            block = self._take(min(take, self._queued))
        if len(block) == take != frames:
            self.stretched_samples += take - frames
            x = np.linspace(0, take - 1, frames)
            stretched: np.ndarray = np.interp(x, np.arange(take), block).astype(np.int16)
            return stretched
        out = np.zeros(frames, np.int16)
        out[: min(len(block), frames)] = block[:frames]
        return out

    def _rate(self) -> float:
        """How fast to play the next block. Decided once a second from the lowest depth seen
        in the second before: packets come in bursts, so the lowest point is the delay the
        buffer really adds. Far above the target (a burst after a stall, the start), cut back
        at once; a little above or below (clocks that disagree), play 2 % faster or slower."""
        self._low = min(self._low, self._queued)
        self._pulls += 1
        if self._pulls >= WINDOW_PULLS:
            low, self._low, self._pulls = self._low, self.limit, 0
            self._adapt(dry=False)
            if low > self.target + CATCH_UP:
                self._drop(low - self.target)
                self._speed = 1.0
            elif low > self.target + self.slack:
                self._speed = 1 + DRIFT
            elif low < self.slack // 5:
                self._speed = 1 - DRIFT  # about to run dry
            else:
                self._speed = 1.0
        return self._speed

    def _adapt(self, dry: bool) -> None:
        """A busy PC or a bursty network runs the buffer dry: each time, hold 40 ms more (up
        to the ceiling); after 10 calm seconds, give 10 ms back, down to the base target."""
        if dry:
            self.target = min(self.target + RATE * 40 // 1000, self.ceiling)
            self._calm = 0
        else:
            self._calm += 1
            if self._calm >= 10 and self.target > self.base:
                self.target = max(self.base, self.target - RATE * 10 // 1000)
                self._calm = 0
        self.limit = self.target + self.margin

    def _take(self, count: int) -> np.ndarray:
        parts, need = [], count
        while need > 0 and self._chunks:
            head = self._chunks[0]
            part = head[:need]
            parts.append(part)
            need -= len(part)
            if len(part) == len(head):
                self._chunks.pop(0)
            else:
                self._chunks[0] = head[len(part) :]
        self._queued -= count - need
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    @property
    def target_ms(self) -> float:
        return self.target * 1000 / RATE

    @property
    def depth_ms(self) -> float:
        return self._queued * 1000 / RATE


class DevicePlayback:
    wants_samples = True

    def __init__(
        self,
        arg: str,
        health: Health,
        echo: EchoCanceller | None = None,
        *,
        device_latency_s: float = 0.1,
        target_ms: int = 80,
    ) -> None:
        self.echo = echo
        self.buffer = JitterBuffer(target_ms)
        self.blocks = 0
        self._latency = device_latency_s
        self.keeper = KeptStream(Device.SPEAKER, arg, self._open, health)
        self.keeper.start()

    def _open(self, index: int | None) -> Any:
        import sounddevice

        return sounddevice.OutputStream(
            device=index,
            samplerate=RATE,
            channels=1,
            dtype="int16",
            blocksize=BLOCK,
            latency=self._latency,
            callback=self._pull,
        )

    def play(self, samples: np.ndarray) -> None:
        self.buffer.push(samples)

    def _pull(self, out: np.ndarray, frames: int, when: Any, status: Any) -> None:
        self.keeper.beat()
        block = self.buffer.pull(frames)
        out[:, 0] = block
        self.blocks += 1
        if self.echo is not None:
            self.echo.feed_far(block, self.keeper.latency_s)

    def close(self) -> None:
        self.keeper.close()


def open_playback(kind: str, health: Health, echo: EchoCanceller | None) -> Playback:
    if kind == "none":
        health.set(Device.SPEAKER, DeviceState.OFF, "--audio-output none")
        return NullPlayback()
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as exc:  # the extra is missing, or PortAudio is
        health.missing(Device.SPEAKER, f"no sound library ({exc}): install the 'agent' extra")
        return NullPlayback()
    return DevicePlayback(kind, health, echo)
