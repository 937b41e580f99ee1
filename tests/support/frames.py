"""A received video track's first picture; its frames counted, and its longest run with none
missing."""

from __future__ import annotations

import asyncio
import contextlib

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streamhub.client.decode import FrameDecoder


class FrameRun:
    """Reads ``track`` (encoded frames) until cancelled. ``best`` is the longest run of frames
    whose timestamps follow one another by exactly ``step`` (none lost on the way);
    ``decoded`` counts pictures when a ``codec`` is given."""

    def __init__(self, track: MediaStreamTrack, step: int = 3000, codec: str | None = None) -> None:
        self.step = step
        self.count = 0
        self.best = 0
        self.decoded = 0
        self._run = 0
        self._last: int | None = None
        self._decoder = FrameDecoder(codec) if codec else None
        self.task = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                packet = await track.recv()
                pts = int(packet.pts or 0)
                follows = self._last is not None and pts - self._last == self.step
                self._run = self._run + 1 if follows else 1
                self.best = max(self.best, self._run)
                self._last = pts
                self.count += 1
                if self._decoder is not None:
                    self.decoded += len(self._decoder.decode(packet))

    def stop(self) -> None:
        self.task.cancel()


# What the classroom agent offers: a Python client joining a lesson that a browser lecturer
# started (H.264) needs H.264 too.
AGENT_CODECS = ("H264", "VP8", "opus")


async def first_frame(track: MediaStreamTrack, codec: str, timeout: float = 20.0) -> av.VideoFrame:
    """Receive packets until one decodes to a picture (``codec``: the lesson's, from Joined)."""
    decoder = FrameDecoder(codec)

    async def run() -> av.VideoFrame:
        while True:
            frames = decoder.decode(await track.recv())
            if frames:
                return frames[-1]

    return await asyncio.wait_for(run(), timeout)
