"""What the classroom sends: --video-source testpattern|camera:N|file:PATH and
--audio-source tone|mic|file:PATH|none. A source that cannot open yields no track.

Tracks are made per session: aiortc stops a sender's track when its connection closes.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from classroom_agent.echo import EchoCanceller
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack

logger = logging.getLogger(__name__)

AUDIO_RATE = 48_000
AUDIO_FRAME = 960  # 20 ms


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # testpattern | camera | file | tone | mic | none
    arg: str = ""

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        kind, _, arg = text.partition(":")
        if kind not in ("testpattern", "camera", "file", "tone", "mic", "none"):
            raise ValueError(f"unknown source {text!r}")
        if kind in ("camera", "file") and not arg:
            raise ValueError(f"{kind}: needs an argument ({kind}:N or file:PATH)")
        return cls(kind, arg)


class CameraTrack(MediaStreamTrack):
    """An OpenCV capture device, read on its own thread (reads block)."""

    kind = "video"

    def __init__(self, capture: Any, fps: float = 30.0) -> None:
        super().__init__()
        self._capture = capture
        self._fps = fps
        self._count = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agent-camera")

    @classmethod
    def open(cls, index: int) -> CameraTrack | None:
        import cv2

        capture = cv2.VideoCapture(index)
        if not capture.isOpened():
            capture.release()
            return None
        return cls(capture, capture.get(cv2.CAP_PROP_FPS) or 30.0)

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        ok, image = await asyncio.get_running_loop().run_in_executor(self._pool, self._capture.read)
        if not ok:
            self.stop()
            raise MediaStreamError
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = int(self._count * 90000 / self._fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self._count += 1
        return frame

    def stop(self) -> None:
        # Closing the peer connection stops its tracks, and the session stops them again.
        if self.readyState == "ended":
            return
        super().stop()
        self._pool.submit(self._capture.release)
        self._pool.shutdown(wait=False)


class MicrophoneTrack(MediaStreamTrack):
    """The default input device (sounddevice), echo-cancelled against what the agent plays."""

    kind = "audio"

    def __init__(self, echo: EchoCanceller | None) -> None:
        super().__init__()
        import sounddevice

        self._echo = echo
        self._owner = asyncio.get_running_loop()
        self._queue: asyncio.Queue[np.ndarray] = asyncio.Queue(maxsize=50)
        self._buffer = np.zeros(0, np.int16)
        self._samples = 0
        self._paused = False
        self._stream = sounddevice.InputStream(
            samplerate=AUDIO_RATE, channels=1, dtype="int16", blocksize=480,
            callback=self._captured,
        )  # fmt: skip
        self._stream.start()

    def _captured(self, data: np.ndarray, frames: int, when: Any, status: Any) -> None:
        samples = data[:, 0].copy()
        if self._echo is not None:
            samples = self._echo.process_near(samples)
        self._owner.call_soon_threadsafe(self._put, samples)

    def set_paused(self, paused: bool) -> None:
        """Muted: drop what is captured, and start afresh when unmuted."""
        self._paused = paused
        while not self._queue.empty():
            self._queue.get_nowait()
        self._buffer = np.zeros(0, np.int16)

    def _put(self, samples: np.ndarray) -> None:
        if self._paused:
            return
        if self._queue.full():
            self._queue.get_nowait()  # drop the oldest: stay live
        self._queue.put_nowait(samples)

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        while len(self._buffer) < AUDIO_FRAME:
            if self.readyState != "live":
                raise MediaStreamError
            self._buffer = np.concatenate([self._buffer, await self._queue.get()])
        chunk, self._buffer = self._buffer[:AUDIO_FRAME], self._buffer[AUDIO_FRAME:]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._samples += AUDIO_FRAME
        return frame

    def stop(self) -> None:
        super().stop()
        stream, self._stream = self._stream, None
        if stream is not None:
            # Closing waits for the audio thread: not on the loop.
            threading.Thread(target=stream.close, name="agent-mic-close", daemon=True).start()


def _file_track(path: str, kind: str) -> MediaStreamTrack | None:
    from aiortc.contrib.media import MediaPlayer

    try:
        player = MediaPlayer(path, loop=True)
    except (av.FFmpegError, OSError) as exc:
        logger.warning("cannot open %s: %s", path, exc)
        return None
    track = player.video if kind == "video" else player.audio
    if track is None:
        logger.warning("%s has no %s stream", path, kind)
    return track


def video_track(spec: SourceSpec) -> MediaStreamTrack | None:
    """The camera track, or None (logged) when it cannot open."""
    if spec.kind == "testpattern":
        return PatternVideoTrack(640, 480, 30)
    if spec.kind == "camera":
        track = CameraTrack.open(int(spec.arg))
        if track is None:
            logger.warning("camera %s cannot be opened: sending no video", spec.arg)
        return track
    if spec.kind == "file":
        return _file_track(spec.arg, "video")
    return None


def audio_track(
    spec: SourceSpec, echo: Callable[[], EchoCanceller | None]
) -> MediaStreamTrack | None:
    """The microphone track, or None (logged) when it cannot open or is off."""
    if spec.kind == "tone":
        return ToneAudioTrack(440.0, 0.1)
    if spec.kind == "mic":
        try:
            return MicrophoneTrack(echo())
        except Exception as exc:  # PortAudio errors, missing library, no device
            logger.warning("microphone cannot be opened: %s", exc)
            return None
    if spec.kind == "file":
        return _file_track(spec.arg, "audio")
    return None
