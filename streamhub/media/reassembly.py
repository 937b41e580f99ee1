"""Receive buffers that turn RTP packets back into whole encoded frames on every leg the hub,
the recorder and the agents receive. They replace aiortc's ``JitterBuffer`` (installed by
``aiortc_hooks``), which suits a decoder that plays out but not a forwarder:

- video: aiortc releases a frame only when the first packet of the *next* frame arrives (one
  frame time, ~33 ms, added on every hop) and waits for a lost packet until 512 newer ones have
  arrived, which at classroom bitrates is a 5-20 s freeze whenever a NACK goes unanswered.
  ``VideoFrameAssembler`` releases a frame on its marker packet, waits for a retransmission
  for ``HOLE_WAIT_S`` only, then gives up on the broken frames, asks for a key frame and
  resumes at it (delta frames after a lost one cannot be decoded, and the hub renumbers
  pictures, so downstream could not tell). A frame leaves only whole: it begins with a packet
  that the payload says begins a frame, ends on its marker (or where the next frame visibly
  begins), and a VP8 frame holds at least the first partition its header declares. Anything
  else is a frame with a hole, dropped like one: a cut key frame recorded or forwarded would
  break every picture until the next key frame.
- audio: each Opus packet is a whole frame; ``AudioReorderBuffer`` only undoes reordering.
- NACKs: ``RepeatingNackGenerator`` asks for a lost packet again until the hole is given up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpreceiver import NackGenerator

from streamhub.media.codecs import begins_frame, starts_keyframe, vp8_whole

# A lost packet is asked for again this often while the hole can still be filled, this many
# times in all: aiortc asks once, and on a lossy link the NACK or its answer is lost too.
NACK_REPEAT_S = 0.12
NACK_TRIES = 3
# Opus packets held for reordering: 2 x 20 ms, half of what aiortc's prefetch adds.
AUDIO_REORDER_DEPTH = 2
# How long a hole may hold up the frames behind it: NACK_TRIES round trips on a fast link,
# one and a bit on a slow rural one.
HOLE_WAIT_S = 0.4
# More held packets than this means the hole will not be filled (and bounds the memory).
MAX_HELD_PACKETS = 512
# While waiting for a key frame, ask again this often: the first request or its answer may
# itself be lost.
KEYFRAME_REPEAT_S = 0.5
_SEQ = 1 << 16
_TS = 1 << 32


def _ahead(seq: int, base: int) -> int:
    """How far ``seq`` is after ``base``, modulo 2^16; >= 2^15 means it is before."""
    return (seq - base) % _SEQ


_WHOLE, _HOLE, _BROKEN = "whole", "hole", "broken"


def _begins(packet: Any) -> bool:
    return begins_frame(getattr(packet, "payload", b""), getattr(packet, "_data", b""))


def _starts_key(packet: Any) -> bool:
    return starts_keyframe(getattr(packet, "_data", b"")) and _begins(packet)


class FrameBatch(JitterFrame):
    """Whole frames released by one packet (a retransmission can complete several at once).
    aiortc maps only ``timestamp`` (the first frame's) onto its zero-based clock; each frame
    keeps its RTP distance from the first."""

    def __init__(self, frames: list[tuple[bytes, int]]) -> None:
        first_ts = frames[0][1]
        super().__init__(frames[0][0], first_ts)
        self.frames = [(data, (ts - first_ts) % _TS) for data, ts in frames]


class VideoFrameAssembler:
    """Stands in for aiortc's video jitter buffer; same ``add`` contract: returns
    (send a PLI now, frames released or None)."""

    def __init__(
        self,
        capacity: int = MAX_HELD_PACKETS,
        prefetch: int = 0,
        is_video: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self._clock = clock
        self._held: dict[int, Any] = {}
        self._next: int | None = None
        self._stuck_since: float | None = None
        self._awaiting_key = True
        self._last_request = -1e9
        # When every held packet is one unbroken run from the head, not yet a whole frame: the
        # run's last sequence number and its frame's timestamp (None before a packet with
        # data). The next packet in order then only joins the run (see ``add``).
        self._open: tuple[int, int | None] | None = None
        self.holes_skipped = 0
        self.broken_frames = 0

    def add(self, packet: Any) -> tuple[bool, FrameBatch | None]:
        now = self._clock()
        seq = packet.sequence_number
        if self._next is not None and not self._awaiting_key:
            ahead = _ahead(seq, self._next)
            if ahead >= _SEQ // 2:
                return False, None  # already released or given up on: a late retransmission
            if ahead > self.capacity:
                # The sequence jumped (the publisher restarted): nothing held can complete.
                self._give_up_all()
        if self._awaiting_key:
            # A stream, and a stream after a loss, starts at a key frame (senders begin
            # with one; a delta frame without its reference cannot be decoded).
            if not _starts_key(packet):
                return self._ask_for_key(now), None
            self._awaiting_key = False
            self._next = seq
        elif (run := self._open) is not None and seq == (run[0] + 1) % _SEQ and not packet.marker:
            # In order and not the frame's last: what _release would find is the same run one
            # longer, nothing to release and no hole. A video packet usually goes this way; the
            # frame is walked once, by its last packet, not once per packet.
            timestamp = run[1]
            if timestamp is None and packet._data:
                timestamp = packet.timestamp
            if timestamp is None or not packet._data or packet.timestamp == timestamp:
                self._held[seq] = packet
                self._open = (seq, timestamp)
                self._stuck_since = None
                return False, None
        self._held.setdefault(seq, packet)
        frames, state = self._release()
        pli = False
        while state is _BROKEN:
            # A run of packets that cannot be a whole frame: no retransmission mends it.
            assert self._next is not None
            more, state = self._skip_to_keyframe(after=(self._next - 1) % _SEQ)
            frames += more
            pli = self._ask_for_key(now, force=True)
        if state is _WHOLE:
            self._stuck_since = None
        elif self._stuck_since is None:
            self._stuck_since = now
        elif now - self._stuck_since > HOLE_WAIT_S or len(self._held) > self.capacity:
            # The frame at the head is broken by the hole: resume beyond it, never at it again.
            assert self._next is not None
            more, state = self._skip_to_keyframe(after=self._next)
            frames += more
            while state is _BROKEN:
                more, state = self._skip_to_keyframe(after=(self._next - 1) % _SEQ)
                frames += more
            pli = self._ask_for_key(now, force=True)
        if not frames:
            return pli, None
        return pli, FrameBatch(frames)

    def _release(self) -> tuple[list[tuple[bytes, int]], str]:
        """Release every whole frame from the head. The state after: _WHOLE (nothing held
        waits on a missing packet), _HOLE (a missing packet holds up what is behind it) or
        _BROKEN (the packets at the head, up to just before ``_next``, cannot make a whole
        frame and were dropped)."""
        frames: list[tuple[bytes, int]] = []
        assert self._next is not None
        while True:
            parts: list[Any] = []
            seq = self._next
            timestamp: int | None = None  # the frame's: its first packet with data
            end: int | None = None
            broken = False
            while (packet := self._held.get(seq)) is not None:
                has_data = bool(packet._data)
                if has_data and timestamp is not None and packet.timestamp != timestamp:
                    # The sender did not mark the frame's last packet: the next frame's first
                    # packet ends it. A packet of another timestamp that does not begin a
                    # frame (a stray or foreign packet) leaves this frame's end unknown.
                    end = (seq - 1) % _SEQ
                    broken = broken or not _begins(packet)
                    break
                # Padding (no data) never ends a frame, wherever a sender put it.
                parts.append(packet)
                if has_data and timestamp is None:
                    timestamp = packet.timestamp
                    broken = not _begins(packet)
                if packet.marker:
                    end = seq
                    break
                seq = (seq + 1) % _SEQ
            if end is None:
                # Packets held beyond the ones in hand sit behind a missing packet.
                if len(self._held) > len(parts):
                    self._open = None
                    return frames, _HOLE
                self._open = ((self._next + len(parts) - 1) % _SEQ, timestamp)
                return frames, _WHOLE
            for packet in parts:
                del self._held[packet.sequence_number]
            self._next = (end + 1) % _SEQ
            data = b"".join(p._data for p in parts)
            if broken or (data and not vp8_whole(data)):
                self.broken_frames += 1
                self._open = None
                return frames, _BROKEN
            if data and timestamp is not None:  # padding alone makes no frame
                frames.append((data, timestamp))

    def _skip_to_keyframe(self, after: int) -> tuple[list[tuple[bytes, int]], str]:
        """Drop the held packets up to ``after`` (the frames a hole or a broken run spoilt) and
        resume at the first key frame held beyond it; if there is none, wait for one."""
        self.holes_skipped += 1
        self._stuck_since = None
        assert self._next is not None
        base = self._next
        limit = _ahead(after, base)
        if limit >= _SEQ // 2:
            limit = -1  # ``after`` is just behind the head: nothing held is spoilt yet
        for seq in sorted(self._held, key=lambda s: _ahead(s, base)):
            packet = self._held[seq]
            if _ahead(seq, base) > limit and _starts_key(packet):
                for old in [s for s in self._held if _ahead(s, base) < _ahead(seq, base)]:
                    del self._held[old]
                self._next = seq
                return self._release()
        self._give_up_all()
        return [], _WHOLE

    def _give_up_all(self) -> None:
        self._open = None
        self._held.clear()
        self._stuck_since = None
        self._awaiting_key = True

    def _ask_for_key(self, now: float, force: bool = False) -> bool:
        if force or now - self._last_request >= KEYFRAME_REPEAT_S:
            self._last_request = now
            return True
        return False


class AudioReorderBuffer:
    """Stands in for aiortc's audio jitter buffer. Every Opus packet is a whole frame: it is
    held only while ``depth`` newer packets may still overtake it (a jittery link reorders),
    then handed on in order. A lost packet costs only itself, and a packet that comes after
    its turn is dropped."""

    def __init__(self, capacity: int = 16, prefetch: int = 0, is_video: bool = False) -> None:
        self.capacity = capacity
        self.depth = AUDIO_REORDER_DEPTH
        self._held: dict[int, Any] = {}
        self._released: int | None = None

    def add(self, packet: Any) -> tuple[bool, JitterFrame | None]:
        seq = packet.sequence_number
        if self._released is not None and not 0 < _ahead(seq, self._released) < _SEQ // 2:
            return False, None
        self._held[seq] = packet
        if len(self._held) <= self.depth:
            return False, None
        following = None if self._released is None else (self._released + 1) % _SEQ
        if following in self._held:  # in order, as nearly always: no search
            oldest = following
        else:
            oldest = min(self._held, key=lambda s: _ahead(s, seq - _SEQ // 2))
        out = self._held.pop(oldest)
        self._released = oldest
        return False, JitterFrame(out._data, out.timestamp)


class RepeatingNackGenerator(NackGenerator):
    """aiortc's NACK bookkeeping, asking again for packets still missing after
    ``NACK_REPEAT_S`` (up to ``NACK_TRIES`` asks each). ``add`` says when to send a NACK for
    every packet in ``missing``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._asked: dict[int, tuple[float, int]] = {}

    def add(self, packet: Any) -> bool:
        missed = super().add(packet)
        if not missed and not self._asked:  # nothing lost, nothing asked for: the usual case
            return False
        now = self._clock()
        for seq in [s for s in self._asked if s not in self.missing]:
            del self._asked[seq]
        due = missed or any(now - at >= NACK_REPEAT_S for at, _ in self._asked.values())
        if not due:
            return False
        for seq in list(self.missing):
            at, tries = self._asked.get(seq, (None, 0))
            if at is not None and now - at < NACK_REPEAT_S:
                continue  # asked a moment ago: this NACK repeats it, uncounted
            if tries >= NACK_TRIES:
                # Given up: the receive buffer drops the frame and asks for a key frame.
                self.missing.discard(seq)
                self._asked.pop(seq, None)
            else:
                self._asked[seq] = (now, tries + 1)
        return bool(self.missing)
