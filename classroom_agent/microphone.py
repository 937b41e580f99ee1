"""The classroom's microphone: one input stream for the agent's whole life, echo-cancelled
against what the loudspeakers play, reopened after device loss (sound_device.KeptStream).

Each lesson session takes a ``MicrophoneTrack`` fed from it. Muting pauses the track, not the
device, so unmuting is instant and the echo canceller never loses its place.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from classroom_agent.echo import EchoCanceller
from classroom_agent.health import Device, Health
from classroom_agent.sound_device import KeptStream

logger = logging.getLogger(__name__)

RATE = 48_000
BLOCK = RATE // 100  # 10 ms: what the echo canceller works in
FRAME = 960  # 20 ms: what goes to the encoder


class Microphone:
    def __init__(self, arg: str, health: Health, echo: EchoCanceller | None) -> None:
        self.echo = echo
        self.captured_blocks = 0
        self._tracks: set[MicrophoneTrack] = set()
        self.keeper = KeptStream(Device.MICROPHONE, arg, self._open, health)
        self.keeper.start()

    def _open(self, index: int | None) -> Any:
        import sounddevice

        return sounddevice.InputStream(
            device=index,
            samplerate=RATE,
            channels=1,
            dtype="int16",
            blocksize=BLOCK,
            callback=self._captured,
        )

    def _captured(self, data: np.ndarray, frames: int, when: Any, status: Any) -> None:
        self.keeper.beat()
        self.captured_blocks += 1
        samples = data[:, 0].copy()
        if self.echo is not None:
            samples = self.echo.process_near(samples, self.keeper.latency_s)
        for track in list(self._tracks):
            track.feed(samples)

    def track(self) -> MicrophoneTrack:
        """A new track for one session (aiortc stops a track when its connection closes)."""
        track = MicrophoneTrack(self)
        self._tracks.add(track)
        return track

    def detach(self, track: MicrophoneTrack) -> None:
        self._tracks.discard(track)

    def close(self) -> None:
        self.keeper.close()


class MicrophoneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, microphone: Microphone) -> None:
        super().__init__()
        self._microphone = microphone
        self._owner = asyncio.get_running_loop()
        self._queue: asyncio.Queue[np.ndarray] = asyncio.Queue(maxsize=50)
        self._buffer = np.zeros(0, np.int16)
        self._samples = 0
        self._paused = False

    def feed(self, samples: np.ndarray) -> None:
        """From the capture thread."""
        if not self._paused:
            try:
                self._owner.call_soon_threadsafe(self._put, samples)
            except RuntimeError:  # the loop is closed: the agent is exiting
                pass

    def _put(self, samples: np.ndarray) -> None:
        if self._paused:
            return
        if self._queue.full():
            self._queue.get_nowait()  # drop the oldest: stay live
        self._queue.put_nowait(samples)

    def set_paused(self, paused: bool) -> None:
        """Muted: drop what is captured, and start afresh when unmuted."""
        self._paused = paused
        while not self._queue.empty():
            self._queue.get_nowait()
        self._buffer = np.zeros(0, np.int16)

    async def recv(self) -> av.AudioFrame:
        while len(self._buffer) < FRAME:
            if self.readyState != "live":
                raise MediaStreamError
            self._buffer = np.concatenate([self._buffer, await self._queue.get()])
        chunk, self._buffer = self._buffer[:FRAME], self._buffer[FRAME:]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, RATE)
        self._samples += FRAME
        return frame

    def stop(self) -> None:
        super().stop()
        self._microphone.detach(self)
