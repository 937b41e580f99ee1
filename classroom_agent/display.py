"""--display window[:N]|none: the projector, kept open by the agent.

The window is a child process (classroom_agent/window.py) so that losing the display (a
cable, a crashed desktop, X restarted) ends only the window: this supervisor notes it in the
device health, waits, and opens a new one until the display is back. Pictures go through a
shared memory file (frames.py), the agent's state as JSON lines on the child's stdin, keys
come back on its stdout.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Protocol

import numpy as np

from classroom_agent.frames import FrameSlots
from classroom_agent.health import Device, DeviceState, Health
from classroom_agent.scene import Scene

logger = logging.getLogger(__name__)

RETRY_S = (0.5, 1.0, 2.0, 3.0)  # between window starts while the display is gone
STARTUP_TIMEOUT_S = 20.0  # a window that never says "ready" is restarted


class Display(Protocol):
    wants_pictures: bool
    scene: Scene

    def show(self, source: str, image: np.ndarray | None) -> None:
        """Set the latest RGB picture of ``lecturer``, ``screen`` or ``stage`` (None: gone)."""

    def set_scene(self, scene: Scene) -> None: ...

    def close(self) -> None: ...


class NullDisplay:
    wants_pictures = False

    def __init__(self) -> None:
        self.scene = Scene()

    def show(self, source: str, image: np.ndarray | None) -> None:
        pass

    def set_scene(self, scene: Scene) -> None:
        self.scene = scene

    def close(self) -> None:
        pass


class WindowDisplay:
    wants_pictures = True

    def __init__(self, on_key: Callable[[str], None], health: Health, screen: int = 0) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_key = on_key
        self._health = health
        self._screen = screen
        self.scene = Scene()
        self.fps: float | None = None
        self.starts = 0
        self.size: tuple[int, int] | None = None
        self._frames = FrameSlots.create()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._ready: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="agent-window", daemon=True)
        self._thread.start()

    def show(self, source: str, image: np.ndarray | None) -> None:
        self._frames.write(source, image)

    def set_scene(self, scene: Scene) -> None:
        with self._lock:
            self.scene = scene
            self._send(self._child)

    def _send(self, child: subprocess.Popen[bytes] | None) -> None:
        if child is None or child.stdin is None:
            return
        try:
            child.stdin.write(self.scene.to_json().encode() + b"\n")
            child.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # it is exiting; the supervisor sees it

    # ------------------------------------------------------------ the window process

    def _supervise(self) -> None:
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            reason = self._run_once()
            if self._stop.is_set():
                return
            failures = 0 if time.monotonic() - started > 30 else failures + 1
            self._health.set(Device.DISPLAY, DeviceState.MISSING, reason)
            self._stop.wait(RETRY_S[min(failures, len(RETRY_S) - 1)])

    def _run_once(self) -> str:
        command = [sys.executable, "-m", "classroom_agent.window"]
        command += ["--frames", str(self._frames.path), "--screen", str(self._screen)]
        try:
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            return f"cannot start the window: {exc}"
        self.starts += 1
        with self._lock:
            self._child = child
            self._send(child)
        watchdog = threading.Timer(STARTUP_TIMEOUT_S, self._kill_if_not_ready, (child,))
        watchdog.start()
        reason = "the window closed"
        try:
            reason = self._read_events(child.stdout) or reason
        finally:
            watchdog.cancel()
            with self._lock:
                self._child = None
            if child.poll() is None:
                child.terminate()
            try:
                code = child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                code = child.wait()
        self.fps = None
        return f"{reason} (exit {code})"

    def _read_events(self, stdout: IO[bytes] | None) -> str | None:
        assert stdout is not None
        reason = None
        for line in stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")
            if kind == "ready":
                self.size = (int(event["width"]), int(event["height"]))
                self._ready = self._child
                detail = f"window {self.size[0]}x{self.size[1]}"
                self._health.set(Device.DISPLAY, DeviceState.OK, detail)
                logger.info("projector window open: %s", detail)
            elif kind == "key":
                self._loop.call_soon_threadsafe(self._on_key, str(event["action"]))
            elif kind == "fps":
                self.fps = float(event["fps"])
            elif kind == "failed":
                reason = f"cannot open a window: {event.get('reason')}"
            elif kind == "closed":
                reason = "the window was closed"
        return reason

    def _kill_if_not_ready(self, child: subprocess.Popen[bytes]) -> None:
        if self._ready is not child and child.poll() is None:
            logger.warning("the window did not open within %.0fs: restarting it", STARTUP_TIMEOUT_S)
            child.kill()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            child = self._child
        if child is not None and child.stdin is not None:
            try:
                child.stdin.close()  # EOF: the window exits by itself
            except OSError:
                pass
        self._thread.join(timeout=8)
        if child is not None and child.poll() is None:
            child.kill()
        self._frames.close(unlink=True)


def open_display(kind: str, on_key: Callable[[str], None], health: Health) -> Display:
    """``window``, ``window:N`` (the Nth screen) or ``none``."""
    name, _, screen = kind.partition(":")
    if name != "window":
        health.set(Device.DISPLAY, DeviceState.OFF, "--display none")
        return NullDisplay()
    if importlib.util.find_spec("pygame") is None:
        # Fail here, loudly, rather than restarting a window that cannot exist.
        health.missing(Device.DISPLAY, "pygame is not installed: install the 'agent' extra")
        return NullDisplay()
    return WindowDisplay(on_key, health, int(screen or 0))
