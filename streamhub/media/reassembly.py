"""Receive buffers that turn RTP packets back into whole encoded frames on every leg the hub,
the recorder and the agents receive. They replace aiortc's ``JitterBuffer`` (installed by
``aiortc_hooks``), which suits a decoder that plays out but not a forwarder:

- video: aiortc releases a frame only when the first packet of the *next* frame arrives (one
  frame time, ~33 ms, added on every hop) and waits for a lost packet until 512 newer ones have
  arrived, which at classroom bitrates is a 5-20 s freeze whenever a NACK goes unanswered.
  ``VideoFrameAssembler`` releases a frame on its marker packet, waits for a retransmission
  for ``HOLE_WAIT_S`` only, then gives up on the broken frames, asks for a key frame and
  resumes at it (delta frames after a lost one cannot be decoded, and the hub renumbers
  pictures, so downstream could not tell).
- audio: each Opus packet is a whole frame; ``AudioReorderBuffer`` only undoes reordering.
- NACKs: ``RepeatingNackGenerator`` asks for a lost packet again until the hole is given up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpreceiver import NackGenerator

from streamhub.media.codecs import starts_keyframe

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
        self.holes_skipped = 0

    def add(self, packet: Any) -> tuple[bool, FrameBatch | None]:
        now = self._clock()
        seq = packet.sequence_number
        data: bytes = getattr(packet, "_data", b"")
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
            if not starts_keyframe(data):
                return self._ask_for_key(now), None
            self._awaiting_key = False
            self._next = seq
        self._held.setdefault(seq, packet)
        frames, hole = self._release()
        pli = False
        if not hole:
            self._stuck_since = None
        elif self._stuck_since is None:
            self._stuck_since = now
        elif now - self._stuck_since > HOLE_WAIT_S or len(self._held) > self.capacity:
            more = self._skip_to_keyframe()
            frames += more
            pli = self._ask_for_key(now, force=True)
        if not frames:
            return pli, None
        return pli, FrameBatch(frames)

    def _release(self) -> tuple[list[tuple[bytes, int]], bool]:
        """Release every whole frame from the head; and say whether a hole blocks the rest."""
        frames: list[tuple[bytes, int]] = []
        assert self._next is not None
        while True:
            parts: list[Any] = []
            seq = self._next
            end: int | None = None
            while (packet := self._held.get(seq)) is not None:
                if parts and packet.timestamp != parts[0].timestamp:
                    end = (seq - 1) % _SEQ  # the sender did not mark the frame's last packet
                    break
                parts.append(packet)
                if packet.marker:
                    end = seq
                    break
                seq = (seq + 1) % _SEQ
            if end is None:
                # Packets held beyond the ones in hand sit behind a missing packet.
                return frames, len(self._held) > len(parts)
            for packet in parts:
                del self._held[packet.sequence_number]
            self._next = (end + 1) % _SEQ
            data = b"".join(p._data for p in parts)
            if data:  # padding-only packets (bandwidth probes) make no frame
                frames.append((data, parts[0].timestamp))

    def _skip_to_keyframe(self) -> list[tuple[bytes, int]]:
        """Drop the frames a hole broke; resume at the first key frame held after the broken
        head, if any. The head frame is the one the hole is in (``_release`` has already
        handed on every whole frame before it), so even when it is itself a key frame it is
        skipped: resuming there would wait for the same hole again, forever."""
        self.holes_skipped += 1
        self._stuck_since = None
        assert self._next is not None
        base = self._next
        for seq in sorted(self._held, key=lambda s: _ahead(s, base)):
            if seq == base:
                continue
            if starts_keyframe(getattr(self._held[seq], "_data", b"")):
                for old in [s for s in self._held if _ahead(s, base) < _ahead(seq, base)]:
                    del self._held[old]
                self._next = seq
                frames, _ = self._release()
                return frames
        self._give_up_all()
        return []

    def _give_up_all(self) -> None:
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
