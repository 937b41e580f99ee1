"""A PortAudio stream that stays open: reopened whenever its device stops delivering.

A USB microphone pulled out, a headset swapped, the sound server restarted: PortAudio stops
calling back (or fails to open). The keeper's thread notices within ``stall_s``, marks the
device missing in the health, and tries again every ``retry_s`` until it opens and runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from classroom_agent import devices
from classroom_agent.health import Device, Health

logger = logging.getLogger(__name__)

_open_streams = 0  # PortAudio can only be re-initialised while no stream is open
_open_lock = threading.Lock()


class KeptStream:
    def __init__(
        self,
        device: Device,
        arg: str,
        open_stream: Callable[[int | None], Any],
        health: Health,
        *,
        retry_s: float = 2.0,
        stall_s: float = 3.0,
        start_grace_s: float = 6.0,
    ) -> None:
        self.device = device
        self.kind = "microphone" if device is Device.MICROPHONE else "output"
        self.arg = arg
        self.health = health
        self.latency_s = 0.0
        self.opened = 0  # how many times a stream was opened (1 + recoveries)
        self._open_stream = open_stream
        self._retry_s = retry_s
        self._stall_s = stall_s
        # A sound server may take a second or two to wake a suspended device.
        self._start_grace_s = start_grace_s
        self._started = 0.0
        self._beats = 0
        self._stream: Any = None
        self._beat = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"agent-{device}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def beat(self) -> None:
        """Called from the stream's callback: the device is delivering."""
        self._beat = time.monotonic()
        self._beats += 1

    def _keep(self) -> None:
        global _open_streams
        failed_before = False
        while not self._stop.is_set():
            if self._stream is None:
                if failed_before:
                    _refresh_if_idle()
                try:
                    index = devices.pick_sound_device(self.kind, self.arg)
                    stream = self._open_stream(index)
                    self._beats = 0
                    self._started = self._beat = time.monotonic()
                    stream.start()
                except Exception as exc:  # no device, PortAudio errors, sound server down
                    failed_before = True
                    self.health.missing(self.device, f"{self.kind} {self.arg or 'default'}: {exc}")
                    self._stop.wait(self._retry_s)
                    continue
                with _open_lock:
                    _open_streams += 1
                self._stream, failed_before = stream, False
                self.opened += 1
                self.latency_s = float(getattr(stream, "latency", 0.0) or 0.0)
                self.health.ok(self.device, devices.sound_device_name(self.kind, index))
                continue
            self._stop.wait(0.25)
            now = time.monotonic()
            if self._beats:
                stalled = now - self._beat > self._stall_s
            else:
                stalled = now - self._started > self._start_grace_s
            if stalled or not self._stream.active:
                reason = "stopped delivering" if stalled else "stream stopped"
                self._close_stream()
                failed_before = True
                self.health.missing(self.device, f"{self.kind}: {reason} (unplugged?)")
                self._stop.wait(self._retry_s)
        self._close_stream()

    def _close_stream(self) -> None:
        global _open_streams
        stream, self._stream = self._stream, None
        if stream is None:
            return
        with _open_lock:
            _open_streams -= 1
        try:
            stream.abort()
            stream.close()
        except Exception as exc:  # a device that vanished may refuse to close cleanly
            logger.debug("closing the %s stream: %s", self.kind, exc)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def _refresh_if_idle() -> None:
    """Let PortAudio see devices plugged in since it started (only with no stream open:
    re-initialising closes every open stream)."""
    with _open_lock:
        if _open_streams:
            return
        try:
            devices.refresh_audio()
        except Exception as exc:  # PortAudio itself is missing: opening says so
            logger.debug("PortAudio refresh failed: %s", exc)
