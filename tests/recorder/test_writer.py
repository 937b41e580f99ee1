"""The recording writer on a failing disk: it stops taking frames and closes what it can."""

from __future__ import annotations

import errno
import time
from pathlib import Path
from typing import Any

import pytest

from recorder import writer as writer_module
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
