"""The agent's last state, kept in a small JSON file next to its config for `status`."""

from __future__ import annotations

import json
import logging
import os
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class State(StrEnum):
    STARTING = "starting"
    WAITING = "waiting"  # no live lesson; polling the timetable
    JOINING = "joining"
    IN_LESSON = "in_lesson"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    REVOKED = "revoked"


def state_path(config_file: Path) -> Path:
    return config_file.with_name("state.json")


class StatusFile:
    """Holds the current state in memory and mirrors it to disk (atomic replace)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, Any] = {"state": State.STARTING.value}

    @property
    def state(self) -> State:
        return State(self.data["state"])

    def update(self, state: State | None = None, **fields: Any) -> None:
        if state is not None:
            self.data["state"] = state.value
        self.data.update(fields)
        self.data["updated_at"] = time.time()
        self.data["pid"] = os.getpid()
        if self.path is None:
            return
        try:
            # A few hundred bytes: fast enough to write from the loop.
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(self.data, indent=2, default=str))
            os.replace(tmp, self.path)
        except OSError as exc:
            logger.warning("cannot write state file %s: %s", self.path, exc)


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data
