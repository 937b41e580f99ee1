"""The recording writer on a failing disk: it stops taking frames and closes what it can."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path
from typing import Any

import av
import pytest

from recorder import writer as writer_module
from recorder.segments import Segment
from recorder.writer import RecordingWriter


def test_a_full_disk_stops_the_writer_without_growing_its_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer_module, "Segment", full_disk)
    writer = RecordingWriter(tmp_path, "vp8")
    writer.frame("lecturer_audio", b"\xfc" * 40, 0.0, True)
    deadline = time.monotonic() + 5
    while writer.failed is None:
        assert time.monotonic() < deadline, "the writer did not notice the failure"
        time.sleep(0.01)
    assert isinstance(writer.failed, OSError)
    # A live lesson keeps sending: nothing piles up behind the dead thread.
    for n in range(1000):
        writer.frame("lecturer_audio", b"\xfc" * 40, n * 0.02, True)
        writer.event("screen", on=True)
    assert writer._queue.qsize() == 0
    writer.close(timeout=2)
    assert writer.journal._file.closed


def _key(n: int) -> bytes:
    """A VP8 key frame header (320x240) and a marker byte."""
    return (
        b"\x10\x02\x00\x9d\x01\x2a"
        + (320).to_bytes(2, "little")
        + (240).to_bytes(2, "little")
        + bytes([n])
    )


def _delta(n: int) -> bytes:
    return b"\x01\x02\x00" + bytes([n])


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux() if p.size]


def test_a_slow_disk_bounds_the_queue_and_video_resumes_on_a_key_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk stalls on the first frame; the event loop keeps handing frames over.
    stalled, resume = threading.Event(), threading.Event()
    real_write = Segment.write

    def slow_write(self: Segment, data: bytes, t: float, keyframe: bool) -> None:
        if not resume.is_set():
            stalled.set()
            assert resume.wait(30), "the test never let the disk go on"
        real_write(self, data, t, keyframe)

    monkeypatch.setattr(Segment, "write", slow_write)
    writer = RecordingWriter(tmp_path, "vp8", max_queued_frames=10)
    writer.frame("lecturer_video", _key(0), 0.0, True)
    assert stalled.wait(10), "the writer thread never took the first frame"
    for n in range(1, 6):  # fills the queue: ten frames
        writer.frame("lecturer_video", _delta(n), n / 30, False)
        writer.frame("lecturer_audio", b"\xfc" + bytes([n]), n / 50, True)
    writer.frame("lecturer_video", _delta(6), 6 / 30, False)  # full: dropped, and so on
    writer.frame("lecturer_audio", b"\xfc\x06", 6 / 50, True)  # full: just this one dropped
    writer.event("screen", on=True)  # events are never dropped
    resume.set()
    deadline = time.monotonic() + 10
    while writer._queued_frames:
        assert time.monotonic() < deadline, "the writer did not drain its queue"
        time.sleep(0.01)
    writer.frame("lecturer_video", _delta(7), 7 / 30, False)  # room again, but no key frame yet
    writer.frame("lecturer_audio", b"\xfc\x07", 7 / 50, True)
    writer.frame("lecturer_video", _key(8), 8 / 30, True)
    writer.frame("lecturer_video", _delta(9), 9 / 30, False)
    writer.close(timeout=10)
    assert writer.failed is None

    assert writer.dropped_frames == {"lecturer_video": 2, "lecturer_audio": 1}
    video = _packets(tmp_path / "lecturer_video-000.mkv")
    assert [p[-1] for p in video] == [0, 1, 2, 3, 4, 5, 8, 9]
    audio = _packets(tmp_path / "lecturer_audio-000.mkv")
    assert [p[-1] for p in audio] == [1, 2, 3, 4, 5, 7]
    journal = (tmp_path / "journal.jsonl").read_text()
    assert '"screen"' in journal
