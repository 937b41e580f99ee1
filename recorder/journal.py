"""The recording's journal: one JSON line per event (segments, stage, screen share), flushed and
synced as written, so a crash leaves everything finalize needs on disk."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

JOURNAL = "journal.jsonl"


class Journal:
    def __init__(self, directory: Path) -> None:
        self.path = directory / JOURNAL
        directory.mkdir(parents=True, exist_ok=True)
        existing = read_journal(directory)
        starts = [e for e in existing if e.get("event") == "start"]
        # Every session after a crash keeps the first session's epoch: one lesson timeline.
        self.epoch: float = starts[0]["epoch"] if starts else time.time()
        self._file = self.path.open("a", encoding="utf-8")
        if not _ends_a_line(self.path):
            # A line torn by a full disk or a kill: the next event starts a line of its own.
            self._file.write("\n")

    def now(self) -> float:
        """Seconds since the recording's epoch."""
        return time.time() - self.epoch

    def write(self, event: str, /, **fields: Any) -> None:
        record = {"event": event, "t": round(self.now(), 3), **fields}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _ends_a_line(path: Path) -> bool:
    with path.open("rb") as file:
        if file.seek(0, os.SEEK_END) == 0:
            return True
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def read_journal(directory: Path) -> list[dict[str, Any]]:
    """Every complete line; a torn last line (killed mid-write) is skipped."""
    path = directory / JOURNAL
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            events.append(record)
    return events
