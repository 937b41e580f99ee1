"""What works on this classroom PC: camera, microphone, loudspeaker, projector window.

Every device the agent opens reports here; whoever cares (the status file, the window's
status strip, the hub through the stats report) is told on each change. A missing device is
logged loudly once when it goes missing and once when it is back, not on every retry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from streamhub.protocol import DeviceHealth

logger = logging.getLogger(__name__)


class Device(StrEnum):
    CAMERA = "camera"
    MICROPHONE = "microphone"
    SPEAKER = "speaker"
    DISPLAY = "display"


class DeviceState(StrEnum):
    OK = "ok"
    OFF = "off"  # turned off on purpose (--display none, --audio-source none)
    MISSING = "missing"  # could not be opened, or stopped working: being retried


class Health:
    """Thread-safe: capture and playback threads report from outside the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states = {d: DeviceState.OK for d in Device}
        self._details: dict[Device, str] = {}
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def set(self, device: Device, state: DeviceState, detail: str = "") -> None:
        with self._lock:
            before = self._states[device]
            self._states[device] = state
            self._details[device] = detail
        if before is state:
            return
        if state is DeviceState.MISSING:
            logger.error("%s missing: %s (retrying)", device.value, detail or "unavailable")
        elif before is DeviceState.MISSING:
            logger.warning("%s back: %s", device.value, detail or state.value)
        for listener in list(self._listeners):
            listener()

    def ok(self, device: Device, detail: str = "") -> None:
        self.set(device, DeviceState.OK, detail)

    def missing(self, device: Device, detail: str) -> None:
        self.set(device, DeviceState.MISSING, detail)

    def state(self, device: Device) -> DeviceState:
        with self._lock:
            return self._states[device]

    def problems(self) -> list[Device]:
        """The devices that do not work, in the order the lecturer's tile names them."""
        with self._lock:
            return [d for d in Device if self._states[d] is DeviceState.MISSING]

    def report(self) -> DeviceHealth:
        with self._lock:
            return DeviceHealth(**{d.value: s.value for d, s in self._states.items()})

    def as_dict(self) -> dict[str, Any]:
        """For the status file: each device's state and what the agent knows about it."""
        with self._lock:
            return {
                d.value: {"state": s.value, "detail": self._details.get(d, "")}
                for d, s in self._states.items()
            }
