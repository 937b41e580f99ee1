"""--display window|none: the lecturer full screen in an OpenCV window with a status line.

The window lives on its own thread (OpenCV's GUI calls block); the loop only hands it the
latest decoded pictures and reads keys back through a callback run on the loop.
A shared screen is the main picture with the lecturer's camera inset.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)

WINDOW = "StreamHub classroom"
KEYS = {ord("h"): "hand", ord("m"): "mute", ord("f"): "fullscreen", ord("q"): "leave"}


class Display(Protocol):
    wants_pictures: bool

    def show(self, source: str, image: np.ndarray | None) -> None:
        """Set the latest picture of ``camera`` or ``screen`` (None: gone)."""

    def set_status(self, text: str) -> None: ...

    def close(self) -> None: ...


class NullDisplay:
    wants_pictures = False

    def __init__(self) -> None:
        self.status = ""

    def show(self, source: str, image: np.ndarray | None) -> None:
        pass

    def set_status(self, text: str) -> None:
        self.status = text

    def close(self) -> None:
        pass


def compose(camera: np.ndarray | None, screen: np.ndarray | None, status: str) -> np.ndarray:
    """The picture to show: screen (or camera) as main picture, camera inset, status line."""
    import cv2

    main = screen if screen is not None else camera
    if main is None:
        main = np.zeros((480, 640, 3), np.uint8)
        cv2.putText(main, "no video", (240, 240), cv2.FONT_HERSHEY_SIMPLEX, 1, (200,) * 3, 2)
    picture = main.copy()
    height, width = picture.shape[:2]
    if screen is not None and camera is not None:
        inset_w = width // 4
        inset_h = max(1, camera.shape[0] * inset_w // max(camera.shape[1], 1))
        inset = cv2.resize(camera, (inset_w, inset_h))
        y, x = height - inset_h - 40, width - inset_w - 10
        if y >= 0:
            picture[y : y + inset_h, x : x + inset_w] = inset
    cv2.rectangle(picture, (0, height - 30), (width, height), (0, 0, 0), -1)
    cv2.putText(
        picture, status, (8, height - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1
    )
    return picture


class WindowDisplay:
    wants_pictures = True

    def __init__(self, on_key: Callable[[str], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_key = on_key
        self._lock = threading.Lock()
        self._pictures: dict[str, np.ndarray | None] = {"camera": None, "screen": None}
        self._status = ""
        self._fullscreen = True
        self._stop = threading.Event()
        self.failed = False
        self._thread = threading.Thread(target=self._run, name="agent-display", daemon=True)
        self._thread.start()

    def show(self, source: str, image: np.ndarray | None) -> None:
        with self._lock:
            self._pictures[source] = image

    def set_status(self, text: str) -> None:
        with self._lock:
            self._status = text

    def _run(self) -> None:
        import cv2

        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            self._apply_fullscreen()
            while not self._stop.is_set():
                with self._lock:
                    camera, screen = self._pictures["camera"], self._pictures["screen"]
                    status = self._status
                cv2.imshow(WINDOW, compose(camera, screen, status))
                key = cv2.waitKey(30) & 0xFF
                action = KEYS.get(key)
                if action == "fullscreen":
                    self._fullscreen = not self._fullscreen
                    self._apply_fullscreen()
                elif action is not None:
                    self._loop.call_soon_threadsafe(self._on_key, action)
            cv2.destroyWindow(WINDOW)
        except cv2.error as exc:
            # opencv-python-headless has no GUI: keep receiving, show nothing.
            self.failed = True
            logger.error("cannot open a window (%s); running without display", exc)

    def _apply_fullscreen(self) -> None:
        import cv2

        mode = cv2.WINDOW_FULLSCREEN if self._fullscreen else cv2.WINDOW_NORMAL
        cv2.setWindowProperty(WINDOW, cv2.WND_PROP_FULLSCREEN, mode)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def open_display(kind: str, on_key: Callable[[str], None]) -> Display:
    return WindowDisplay(on_key) if kind == "window" else NullDisplay()
