"""The writer thread of one recording: it owns the journal and every segment file, so all file
I/O stays off the event loop and in one place."""

from __future__ import annotations

import contextlib
import errno
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder.journal import Journal
from recorder.segments import Segment, h264_dimensions, vp8_dimensions

logger = logging.getLogger(__name__)

# track name -> media kind
TRACKS = {
    "lecturer_video": "video",
    "lecturer_audio": "audio",
    "screen": "video",
    "stage_video": "video",
    "stage_audio": "audio",
}


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# What may wait for a slow disk: about ten seconds of a lesson's frames (three video tracks at
# 30 fps, two audio at 50), and a byte budget for big screen-share key frames. Beyond either,
# frames are dropped (video up to its next key frame) rather than held in the hub's memory.
MAX_QUEUED_FRAMES = 2048
MAX_QUEUED_BYTES = 64 << 20


def is_disk_full(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) says the disk or the quota is full."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@dataclass(frozen=True)
class Frame:
    track: str
    data: bytes
    t: float
    keyframe: bool


@dataclass(frozen=True)
class Event:
    name: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class EndPeriod:
    track: str


class RecordingWriter:
    def __init__(
        self,
        directory: Path,
        video_codec: str,
        on_failed: Callable[[BaseException], None] | None = None,
        max_queued_frames: int = MAX_QUEUED_FRAMES,
        max_queued_bytes: int = MAX_QUEUED_BYTES,
    ) -> None:
        self.directory = directory
        self.video_codec = video_codec.lower()
        self.journal = Journal(directory)
        # Events and period ends are few and always queued; frames count against the bounds.
        self._queue: queue.SimpleQueue[Frame | Event | EndPeriod | None] = queue.SimpleQueue()
        self.max_queued_frames = max_queued_frames
        self.max_queued_bytes = max_queued_bytes
        self._queued_frames = 0
        self._queued_bytes = 0
        self._count_lock = threading.Lock()
        # Video tracks that lost a frame to a full queue: their next frames are useless until
        # a key frame (the forwarder's OutTrack drops the same way).
        self._skipping: set[str] = set()
        self.dropped_frames: dict[str, int] = {}
        self._segments: dict[str, Segment] = {}
        self.bytes_written = 0
        self.failed: BaseException | None = None
        # Called from the writer thread when it stops on an error (a full disk).
        self._on_failed = on_failed
        # On the recording's timeline: the first frame written, and when writing failed.
        self.first_t: float | None = None
        self.failed_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ called from the event loop

    def now(self) -> float:
        return self.journal.now()

    def frame(self, track: str, data: bytes, t: float, keyframe: bool) -> None:
        if self.failed is not None:
            return
        video = TRACKS[track] == "video"
        if video and keyframe:
            self._skipping.discard(track)
        if track in self._skipping:
            self._drop(track)
            return
        with self._count_lock:
            full = (
                self._queued_frames >= self.max_queued_frames
                or self._queued_bytes + len(data) > self.max_queued_bytes
            )
            if not full:
                self._queued_frames += 1
                self._queued_bytes += len(data)
        if full:
            if not self.dropped_frames.get(track):
                logger.warning(
                    "recording %s: the disk is behind, dropping frames", track,
                    extra={"path": str(self.directory)},
                )  # fmt: skip
            if video:
                self._skipping.add(track)
            self._drop(track)
            return
        self._queue.put(Frame(track, data, t, keyframe))

    def _drop(self, track: str) -> None:
        self.dropped_frames[track] = self.dropped_frames.get(track, 0) + 1

    def event(self, kind: str, /, **fields: Any) -> None:
        # Positional-only: a field may itself be called "name" (the stage's classroom).
        self._put(Event(kind, fields))

    def end_period(self, track: str) -> None:
        """The track's source changed or stopped: the next frame opens a new segment."""
        self._put(EndPeriod(track))

    def _put(self, item: Frame | Event | EndPeriod) -> None:
        if self.failed is None:  # a dead writer thread must not let the queue grow
            self._queue.put(item)

    def close(self, timeout: float = 10.0) -> None:
        """Flush and close every file (blocking: call from an executor)."""
        self._queue.put(None)
        self._thread.join(timeout)

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            self.journal.write("start", epoch=self.journal.epoch, video_codec=self.video_codec)
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if isinstance(item, Frame):
                    with self._count_lock:
                        self._queued_frames -= 1
                        self._queued_bytes -= len(item.data)
                    self._write(item)
                elif isinstance(item, Event):
                    self.journal.write(item.name, **item.fields)
                else:
                    self._close_segment(item.track)
        except BaseException as exc:  # a failing disk must not take the hub down
            self.failed_at = self.journal.now()
            self.failed = exc
            if is_disk_full(exc):
                logger.warning("recording stopped: %s", exc, extra={"path": str(self.directory)})
            else:
                logger.exception("recording writer failed", extra={"path": str(self.directory)})
            if self._on_failed is not None:
                with contextlib.suppress(Exception):
                    self._on_failed(exc)
        finally:
            if self.dropped_frames:
                logger.warning(
                    "recording dropped frames while the disk was behind: %s", self.dropped_frames,
                    extra={"path": str(self.directory)},
                )  # fmt: skip
            # On a failing disk each step may fail too: close whatever still can be.
            for track in list(self._segments):
                with contextlib.suppress(Exception):
                    self._close_segment(track)
            with contextlib.suppress(Exception):
                self.journal.write("stop")
            with contextlib.suppress(Exception):
                self.journal.close()

    def _write(self, frame: Frame) -> None:
        kind = TRACKS[frame.track]
        segment = self._segments.get(frame.track)
        dims = None
        if kind == "video" and frame.keyframe:
            # The bytes say which codec they are: a recorder that joined before the lesson's
            # codec was fixed (by its first lecturer or classroom) may have been told another.
            self.video_codec = (
                "h264"
                if frame.data[:3] == b"\0\0\x01" or (frame.data[:4] == b"\0\0\0\x01")
                else "vp8"
            )
            if self.video_codec == "vp8":
                dims = vp8_dimensions(frame.data)
            elif segment is None:
                dims = h264_dimensions(frame.data)
            if segment is not None and dims is not None and dims != segment.dimensions:
                self._close_segment(frame.track)  # the resolution changed: a new period
                segment = None
        if segment is None:
            if kind == "video" and not frame.keyframe:
                return  # a video segment starts on a key frame
            segment = self._open(frame.track, kind, dims)
        segment.write(frame.data, frame.t, frame.keyframe)
        self.bytes_written += len(frame.data)
        if self.first_t is None:
            self.first_t = frame.t

    def _open(self, track: str, kind: str, dims: tuple[int, int] | None) -> Segment:
        index = len(list(self.directory.glob(f"{track}-*.mkv")))
        name = f"{track}-{index:03d}.mkv"
        codec = self.video_codec if kind == "video" else "opus"
        segment = Segment(self.directory / name, kind, codec, dims)
        self._segments[track] = segment
        width, height = dims or (None, None)
        self.journal.write(
            "segment", track=track, file=name, kind=kind, codec=codec, width=width, height=height
        )
        return segment

    def _close_segment(self, track: str) -> None:
        segment = self._segments.pop(track, None)
        if segment is not None:
            segment.close()
            self.journal.write(
                "segment_closed",
                track=track,
                file=segment.path.name,
                packets=segment.packets,
                first_t=segment.first_t,
                last_t=segment.last_t,
            )
