"""Forwarding encoded frames: one reader per published track, one bounded queue per subscriber.

A ``TrackSource`` reads a publisher's encoded frames once; each ``OutTrack`` is one subscriber's
slot (the track its ``RTCRtpSender`` sends). Switching the source of a slot (stage, screen share)
needs no renegotiation: the slot re-stamps timestamps to stay continuous and waits for a keyframe.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streamhub.media.keyframes import KeyframeRequester

logger = logging.getLogger(__name__)

# The slot's clock advances by one frame across a source switch.
FRAME_STEP = {"video": 3000, "audio": 960}


class TrackSource:
    """A published track on the hub, fanned out to any number of OutTracks."""

    def __init__(self, track: MediaStreamTrack, keyframes: KeyframeRequester, label: str) -> None:
        self.track = track
        self.kind = track.kind
        self.keyframes = keyframes
        self.label = label
        self.frames = 0
        self.bytes = 0
        self.last_frame_at: float | None = None
        self._sinks: set[OutTrack] = set()
        self._task: asyncio.Task[None] | None = None
        self._fps_window: collections.deque[float] = collections.deque(maxlen=120)
        self.ended = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"src:{self.label}"
            )

    @property
    def fps(self) -> float:
        now = time.monotonic()
        recent = [t for t in self._fps_window if now - t <= 2.0]
        return len(recent) / 2.0

    def add_sink(self, sink: OutTrack) -> None:
        self._sinks.add(sink)

    def remove_sink(self, sink: OutTrack) -> None:
        self._sinks.discard(sink)

    async def _run(self) -> None:
        try:
            while True:
                packet = await self.track.recv()
                if not isinstance(packet, av.Packet):
                    # The tap is not installed in this process: forwarding would re-encode.
                    raise TypeError(
                        f"expected encoded av.Packet from {self.label}, got {type(packet)}"
                    )
                now = time.monotonic()
                if packet.is_keyframe:
                    self.keyframes.keyframe_arrived()
                self.frames += 1
                self.bytes += packet.size
                self.last_frame_at = now
                self._fps_window.append(now)
                for sink in tuple(self._sinks):
                    sink.push(packet)
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception:
            logger.exception("source %s failed", self.label)
        finally:
            self.ended.set()
            for sink in tuple(self._sinks):
                sink.source_ended(self)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.keyframes.close()
        self._sinks.clear()


class OutTrack(MediaStreamTrack):
    """One subscriber's slot: a track that yields encoded packets for its RTCRtpSender.

    Bounded: when the subscriber's sender falls behind, video is dropped up to the next keyframe
    (and one is requested); audio drops its oldest frames. A slow classroom never slows others.
    """

    def __init__(self, kind: str, label: str, max_frames: int = 60) -> None:
        super().__init__()
        self.kind = kind
        self.label = label
        self._max = max_frames if kind == "video" else max(max_frames // 2, 8)
        self._queue: collections.deque[av.Packet] = collections.deque()
        self._ready = asyncio.Event()
        self._source: TrackSource | None = None
        self._waiting_keyframe = kind == "video"
        self._offset = 0
        self._rebase = True
        self._last_pts: int | None = None
        self._enabled = True
        self.packets_out = 0
        self.dropped = 0
        self.first_packet_at: float | None = None

    @property
    def source(self) -> TrackSource | None:
        return self._source

    def switch(self, source: TrackSource | None) -> None:
        """Feed this slot from ``source`` (None: nothing). No SDP change is involved."""
        if source is self._source:
            return
        if self._source is not None:
            self._source.remove_sink(self)
        self._source = source
        self._queue.clear()
        self._rebase = True
        self._waiting_keyframe = self.kind == "video"
        if source is not None:
            source.add_sink(self)
            self.request_keyframe(urgent=True)

    def set_enabled(self, enabled: bool) -> None:
        """Disabled slots forward nothing (a muted classroom, an audio-only subscriber)."""
        if enabled == self._enabled:
            return
        self._enabled = enabled
        self._queue.clear()
        if enabled:
            self._waiting_keyframe = self.kind == "video"
            self._rebase = True
            self.request_keyframe(urgent=True)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def request_keyframe(self, urgent: bool = False) -> None:
        """Ask this slot's publisher for a key frame: ``urgent`` when the subscriber waits for
        one to show anything (at once), otherwise a repair (coalesced per interval)."""
        if self.kind == "video" and self._source is not None:
            self._source.keyframes.request(urgent)

    def source_ended(self, source: TrackSource) -> None:
        if source is self._source:
            self._source = None
            self._queue.clear()

    def push(self, packet: av.Packet) -> None:
        if not self._enabled or self.readyState != "live":
            return
        if self._waiting_keyframe:
            if not packet.is_keyframe:
                return
            self._waiting_keyframe = False
        if len(self._queue) >= self._max:
            if self.kind == "video":
                self.dropped += len(self._queue)
                self._queue.clear()
                self._waiting_keyframe = not packet.is_keyframe
                self.request_keyframe()
                if self._waiting_keyframe:
                    return
            else:
                self.dropped += 1
                self._queue.popleft()
        pts = packet.pts or 0
        if self._rebase:
            start = 0 if self._last_pts is None else self._last_pts + FRAME_STEP[self.kind]
            self._offset = start - pts
            self._rebase = False
        out = av.Packet(bytes(packet))
        out.pts = out.dts = pts + self._offset
        out.time_base = packet.time_base
        out.is_keyframe = packet.is_keyframe
        self._last_pts = out.pts
        self._queue.append(out)
        self._ready.set()

    async def recv(self) -> av.Packet:  # type: ignore[override]
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        if self.first_packet_at is None:
            self.first_packet_at = time.monotonic()
        self.packets_out += 1
        return self._queue.popleft()

    def stop(self) -> None:
        if self._source is not None:
            self._source.remove_sink(self)
            self._source = None
        super().stop()
        self._ready.set()
