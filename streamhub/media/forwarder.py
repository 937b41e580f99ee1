"""Forwarding encoded frames: one reader per published track, one slot per subscriber.

A ``TrackSource`` reads a publisher's encoded frames once: a received track hands over each frame
where its packets are assembled (``rtp_receive.deliver_inline``: no queue, no task woken per
frame); any other track is read by a task. Each ``OutTrack`` is one subscriber's slot. A slot on a
peer connection has an ``RtpSendLeg`` (``attach``): the source packetizes each frame once and
sends it to every such slot in one loop (no task, queue or wake-up per subscriber). A slot without
a leg (the hub's own recorder) queues frames for ``recv``. Switching the source of a slot (stage,
screen share) needs no renegotiation: the slot re-stamps timestamps to stay continuous and waits
for a keyframe.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streamhub.media import rtp_receive
from streamhub.media.keyframes import KeyframeRequester
from streamhub.media.rtp_send import Packetized, RtpSendLeg, packetize

logger = logging.getLogger(__name__)

# The slot's clock advances by one frame across a source switch.
FRAME_STEP = {"video": 3000, "audio": 960}
# A slot waiting for a key frame asks its publisher again this often until one comes.
KEYFRAME_RETRY_S = 1.0
# A video source keeps the frames since its last key frame, up to this many (1.5 s at 30 fps)
# and this many bytes after the key frame (1.5 s at 1 Mbit/s: a burst a rural school link takes
# without loss), so that a slot that starts between two key frames starts at once (see
# OutTrack._catch_up).
CATCH_UP_MAX_FRAMES = 45
CATCH_UP_MAX_BYTES = 192_000


class TrackSource:
    """A published track on the hub, fanned out to any number of OutTracks."""

    def __init__(
        self,
        track: MediaStreamTrack,
        keyframes: KeyframeRequester,
        label: str,
        mime: str | None = None,
    ) -> None:
        self.track = track
        self.kind = track.kind
        self.mime = mime or ("audio/opus" if track.kind == "audio" else "video/vp8")
        self.keyframes = keyframes
        self.label = label
        self.frames = 0
        self.keyframes_seen = 0
        self.bytes = 0
        self.last_frame_at: float | None = None
        self._sinks: set[OutTrack] = set()
        self._task: asyncio.Task[None] | None = None
        self._inline = False
        self._fps_window: collections.deque[float] = collections.deque(maxlen=120)
        # Video: the frames since the last key frame (the key frame first), packetized when a
        # leg took them; None when they go beyond CATCH_UP_MAX_FRAMES or CATCH_UP_MAX_BYTES.
        self._since_key: list[tuple[av.Packet[Any], Packetized | None]] | None = None
        self._since_key_bytes = 0
        self.ended = asyncio.Event()

    def start(self) -> None:
        if self._task is not None or self._inline or self.ended.is_set():
            return
        self._inline = rtp_receive.deliver_inline(self.track, self._take)
        if not self._inline:
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

    def _frame(self, packet: Any) -> None:
        if not isinstance(packet, av.Packet):
            # The tap is not installed in this process: forwarding would re-encode.
            raise TypeError(f"expected encoded av.Packet from {self.label}, got {type(packet)}")
        if packet.is_keyframe:
            self.keyframes.keyframe_arrived()
            self.keyframes_seen += 1
        now = time.monotonic()
        self.frames += 1
        self.bytes += packet.size
        self.last_frame_at = now
        self._fps_window.append(now)
        frame = self.fan_out(packet)
        if self.kind == "video":
            self._keep_since_key(packet, frame)

    def _keep_since_key(self, packet: av.Packet[Any], frame: Packetized | None) -> None:
        if packet.is_keyframe:
            # Its own size is not counted: a new key frame, the other way to start, costs as much.
            self._since_key, self._since_key_bytes = [(packet, frame)], 0
            return
        if self._since_key is None:
            return
        self._since_key_bytes += packet.size
        if (
            len(self._since_key) >= CATCH_UP_MAX_FRAMES
            or self._since_key_bytes > CATCH_UP_MAX_BYTES
        ):
            self._since_key = None  # too far back: a slot waits for the next key frame
        else:
            self._since_key.append((packet, frame))

    def _take(self, packet: Any) -> None:
        """A frame handed over inline (None: the track ended)."""
        if not self._inline:
            return
        if packet is None:
            self._end()
            return
        try:
            self._frame(packet)
        except Exception:
            logger.exception("source %s failed", self.label)
            self._end()

    async def _run(self) -> None:
        try:
            while True:
                self._frame(await self.track.recv())
                # A received track's frames come inline once its receiver runs (see start).
                self._inline = rtp_receive.deliver_inline(self.track, self._take)
                if self._inline:
                    return
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception:
            logger.exception("source %s failed", self.label)
        finally:
            if not self._inline:
                self._end()

    def _end(self) -> None:
        if self._inline:
            rtp_receive.stop_inline(self.track)
            self._inline = False
        if self.ended.is_set():
            return
        self.ended.set()
        for sink in tuple(self._sinks):
            sink.source_ended(self)

    def since_key(self) -> list[tuple[av.Packet[Any], Packetized]]:
        """The frames since the last key frame, that one first, each packetized; empty when
        they are not kept (beyond the CATCH_UP_MAX_* bounds, or no key frame came yet)."""
        frames = self._since_key
        if not frames:
            return []
        ready = []
        for index, (packet, frame) in enumerate(frames):
            if frame is None:  # no leg took it when it came
                frame = packetize(self.mime, bytes(packet))
                frames[index] = (packet, frame)
            ready.append((packet, frame))
        return ready

    def fan_out(self, packet: av.Packet[Any]) -> Packetized | None:
        """One frame to every slot: packetized once (returned, if a leg took it), sent in this
        one loop."""
        frame: Packetized | None = None
        for sink in tuple(self._sinks):
            try:
                if sink.leg is None:
                    sink.push(packet)
                    continue
                if frame is None:
                    frame = packetize(self.mime, bytes(packet))
                sink.push_rtp(packet, frame)
            except Exception:
                # One subscriber's broken transport must not stop the others' frames.
                logger.exception("slot %s failed to take a frame", sink.label)
        return frame

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._inline:
            self._end()
        await self.keyframes.close()
        self._sinks.clear()
        self._since_key = None


class OutTrack(MediaStreamTrack):
    """One subscriber's slot: encoded frames for its RTCRtpSender's leg, or for ``recv``.

    Bounded: when the subscriber falls behind (its queue is full, or its socket's send buffer),
    video is dropped up to the next keyframe (and one is requested); audio drops its oldest
    frames. A slow classroom never slows others.
    """

    def __init__(self, kind: str, label: str, max_frames: int = 60) -> None:
        super().__init__()
        self.kind = kind
        self.label = label
        self._max = max_frames if kind == "video" else max(max_frames // 2, 8)
        self._queue: collections.deque[av.Packet[Any]] = collections.deque()
        # Frames that came before the leg's transport was up, sent as soon as it is.
        self._early: collections.deque[tuple[av.Packet[Any], Packetized]] = collections.deque()
        self._ready = asyncio.Event()
        self._source: TrackSource | None = None
        self._waiting_keyframe = kind == "video"
        self._offset = 0
        self._rebase = True
        self._last_pts: int | None = None
        self._enabled = True
        self.leg: RtpSendLeg | None = None
        self.packets_out = 0
        self.dropped = 0
        self.first_packet_at: float | None = None
        self._asked_at = -1e9
        # Nothing sent since the slot started (joined, switched or enabled): it may catch up.
        self._fresh = True

    def attach(self, leg: RtpSendLeg) -> None:
        """Send this slot's frames through ``leg`` (the subscriber's RTP stream)."""
        self.leg = leg

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
        self._clear()
        self._rebase = True
        self._fresh = True
        self._waiting_keyframe = self.kind == "video"
        if source is not None:
            source.add_sink(self)
            self.request_keyframe(urgent=True)

    def set_enabled(self, enabled: bool) -> None:
        """Disabled slots forward nothing (a muted classroom, an audio-only subscriber)."""
        if enabled == self._enabled:
            return
        self._enabled = enabled
        self._clear()
        if enabled:
            self._waiting_keyframe = self.kind == "video"
            self._rebase = True
            self._fresh = True
            self.request_keyframe(urgent=True)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def request_keyframe(self, urgent: bool = False) -> None:
        """Ask this slot's publisher for a key frame: ``urgent`` when the subscriber waits for
        one to show anything (at once), otherwise a repair (coalesced per interval)."""
        if self.kind == "video" and self._source is not None:
            self._asked_at = time.monotonic()
            self._source.keyframes.request(urgent)

    def _ask_again(self) -> None:
        """Still waiting for a key frame: ask again, once per ``KEYFRAME_RETRY_S``. A publisher
        may drop a request (Chromium sent one key frame for two close PLIs, and a browser
        classroom that joined second waited for good: a browser sends key frames only when
        asked)."""
        if time.monotonic() - self._asked_at >= KEYFRAME_RETRY_S:
            self.request_keyframe()

    def source_ended(self, source: TrackSource) -> None:
        if source is self._source:
            self._source = None
            self._clear()

    def _clear(self) -> None:
        self._queue.clear()
        self._early.clear()

    def _admit(self, packet: av.Packet[Any], held: int) -> bool:
        """Whether a frame goes on: it waits for a key frame, and a full backlog (``held``
        frames) drops video to the next key frame, or audio's oldest frame."""
        if not self._enabled or self.readyState != "live":
            return False
        if self._waiting_keyframe:
            if not packet.is_keyframe:
                self._ask_again()
                return False
            self._waiting_keyframe = False
        if held >= self._max:
            if self.kind == "video":
                self.dropped += held
                self._clear()
                self._waiting_keyframe = not packet.is_keyframe
                self.request_keyframe()
                return not self._waiting_keyframe
            self.dropped += 1
            if self._queue:
                self._queue.popleft()
            if self._early:
                self._early.popleft()
        return True

    def _catch_up(self, packet: av.Packet[Any]) -> list[tuple[av.Packet[Any], Packetized, int]]:
        """A slot that starts between two key frames need not wait for the next one (a round
        trip to the publisher and its encoder, or longer where a browser rate-limits key
        frames): it gets the source's frames since its last key frame first, in one burst,
        then ``packet``. Only a slot that has sent nothing since it started: after a drop, its
        subscriber has seen those frames already. Every frame since the key frame or none: a
        decoder given an old key frame and only today's deltas would show garbage. They are
        stamped as if they had just been taken: one clock tick apart, just before ``packet``
        (the third item of each). With their own timestamps, a receiver would map the old key
        frame's to now and play everything, the live frames too, that much late (1.5 s for a
        full catch-up); so they are decoded at once, the newest shown."""
        if not (self._fresh and self._waiting_keyframe and self._enabled):
            return []
        if packet.is_keyframe or self._source is None or self.readyState != "live":
            return []
        frames = self._source.since_key()
        if not frames or len(frames) + 1 >= self._max:
            return []
        self._waiting_keyframe = False
        first = (packet.pts or 0) - len(frames)
        return [(early, frame, first + index) for index, (early, frame) in enumerate(frames)]

    def _stamp(self, packet: av.Packet[Any], pts: int | None = None) -> int:
        """The frame's timestamp on this slot's clock (continuous across source switches);
        ``pts``: the source timestamp to use instead of the frame's own."""
        if pts is None:
            pts = packet.pts or 0
        if self._rebase:
            start = 0 if self._last_pts is None else self._last_pts + FRAME_STEP[self.kind]
            self._offset = start - pts
            self._rebase = False
        out = pts + self._offset
        self._last_pts = out
        return out

    def push(self, packet: av.Packet[Any]) -> None:
        for early, _, pts in self._catch_up(packet):
            self._enqueue(early, pts)
        if self._admit(packet, len(self._queue)):
            self._enqueue(packet)

    def _enqueue(self, packet: av.Packet[Any], pts: int | None = None) -> None:
        self._fresh = False
        out = av.Packet(bytes(packet))
        out.pts = out.dts = self._stamp(packet, pts)
        out.time_base = packet.time_base
        out.is_keyframe = packet.is_keyframe
        self._queue.append(out)
        self._ready.set()

    def push_rtp(self, packet: av.Packet[Any], frame: Packetized) -> None:
        leg = self.leg
        assert leg is not None
        if not leg.ready():
            if self._admit(packet, len(self._early)):
                self._early.append((packet, frame))
            return
        if self.kind == "video" and leg.congested:
            self.dropped += 1
            self._waiting_keyframe = True
            self.request_keyframe()
            return
        while self._early:
            early, early_frame = self._early.popleft()
            self._send(leg, early, early_frame)
        for early, early_frame, pts in self._catch_up(packet):
            self._send(leg, early, early_frame, pts)
        if self._admit(packet, 0):
            self._send(leg, packet, frame)

    def _send(
        self,
        leg: RtpSendLeg,
        packet: av.Packet[Any],
        frame: Packetized,
        pts: int | None = None,
    ) -> None:
        self._fresh = False
        leg.send(frame, self._stamp(packet, pts), bool(packet.is_keyframe))
        if self.first_packet_at is None:
            self.first_packet_at = time.monotonic()
        self.packets_out += 1

    async def recv(self) -> av.Packet[Any]:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            # A slot with a leg sends from the source's loop; its aiortc sender waits here.
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
