"""Count a received video track's frames, and its longest run with none missing."""

from __future__ import annotations

import asyncio
import contextlib

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
