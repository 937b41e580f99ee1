"""The classroom's camera (OpenCV capture, ``camera:auto|N|NAME``), kept working: opened when
a lesson needs it, reopened after it fails (a USB cable pulled), reported in the health.

A thread reads the device and keeps the latest picture; each session's ``CameraTrack`` sends
the newest one. While the camera is missing, the track simply waits: the session goes on with
sound, and pictures resume when the camera is back.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from classroom_agent import devices
from classroom_agent.health import Device, Health

logger = logging.getLogger(__name__)

RETRY_S = 3.0
CLOCK = 90_000
WIDTH, HEIGHT = 640, 480  # what the uplink of a rural school carries well


def _open_capture(index: int) -> Any:
    import cv2

    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        capture.release()
        return None
    capture.set(cv2.CAP_PROP_FRAME_WIDTH, WIDTH)
    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, HEIGHT)
    return capture


class Camera:
    def __init__(
        self,
        arg: str,
        health: Health,
        opener: Callable[[int], Any] = _open_capture,
        retry_s: float = RETRY_S,
    ) -> None:
        self.arg = arg
        self.health = health
        self.frames = 0
        self._opener = opener
        self._retry_s = retry_s
        self._capture: Any = None
        self._latest: np.ndarray | None = None
        self._sequence = 0
        self._changed = threading.Condition()
        self._users = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """The self-check before any lesson: is there a camera to use? (No picture is taken:
        on Linux this only lists the devices, so the camera's light stays off.)"""
        try:
            candidates = devices.pick_camera(self.arg)
        except devices.NoDevice as exc:
            self.health.missing(Device.CAMERA, str(exc))
            return False
        if not candidates:
            self.health.missing(Device.CAMERA, "no camera found")
            return False
        self.health.ok(Device.CAMERA, f"camera {candidates[0]}")
        return True

    def track(self) -> CameraTrack:
        """A track for one session; the device is open while any track is live."""
        self._users += 1
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._read, name="agent-camera", daemon=True)
            self._thread.start()
        return CameraTrack(self)

    def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self._stop.set()  # the reader closes the device: its light goes off between lessons

    def _read(self) -> None:
        while not self._stop.is_set():
            if self._capture is None:
                self._capture = self._try_open()
                if self._capture is None:
                    self._stop.wait(self._retry_s)
                    continue
            ok, image = self._capture.read()
            if not ok or image is None:
                self._capture.release()
                self._capture = None
                self.health.missing(Device.CAMERA, "the camera stopped (unplugged?)")
                self._stop.wait(self._retry_s)
                continue
            with self._changed:
                self._latest = image
                self._sequence += 1
                self.frames += 1
                self._changed.notify_all()
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _try_open(self) -> Any:
        try:
            candidates = devices.pick_camera(self.arg)
        except devices.NoDevice as exc:
            self.health.missing(Device.CAMERA, str(exc))
            return None
        for index in candidates:
            capture = self._opener(index)
            if capture is not None:
                self.health.ok(Device.CAMERA, f"camera {index}")
                return capture
        self.health.missing(Device.CAMERA, "no camera could be opened")
        return None

    def wait_picture(self, after: int, timeout: float) -> tuple[int, np.ndarray | None]:
        """The first picture newer than ``after`` (blocks up to ``timeout``)."""
        with self._changed:
            self._changed.wait_for(lambda: self._sequence != after, timeout)
            return self._sequence, self._latest if self._sequence != after else None

    def close(self) -> None:
        self._users = 0
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)


class CameraTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, camera: Camera) -> None:
        super().__init__()
        self._camera = camera
        self._seen = 0
        self._start = time.monotonic()
        self._released = False

    async def recv(self) -> av.VideoFrame:
        loop = asyncio.get_running_loop()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            sequence, image = await loop.run_in_executor(
                None, self._camera.wait_picture, self._seen, 0.5
            )
            if image is not None:
                break
        self._seen = sequence
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        # Wall-clock timestamps: a camera that comes back after a gap continues in time.
        frame.pts = int((time.monotonic() - self._start) * CLOCK)
        frame.time_base = fractions.Fraction(1, CLOCK)
        return frame

    def stop(self) -> None:
        if self.readyState == "ended":
            return
        super().stop()
        if not self._released:
            self._released = True
            self._camera.release()
