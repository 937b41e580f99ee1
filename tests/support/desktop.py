"""A real X display for tests: Xvfb on a free display number of its own, with openbox as the window
manager (a full-screen request means something only to a window manager), screenshots of the
whole screen, and "unplugging" it (killing Xvfb) and plugging it back (the same number)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.support.wait import eventually


class Desktop:
    def __init__(self, size: tuple[int, int] = (1280, 720)) -> None:
        self.size = size
        self.number: int | None = None
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._wm: subprocess.Popen[bytes] | None = None
        self._home = Path(tempfile.mkdtemp(prefix="agent-desktop-"))

    @property
    def display(self) -> str:
        assert self.number is not None
        return f":{self.number}"

    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.display}

    def start(self) -> None:
        width, height = self.size
        screen = ["-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"]
        if self.number is None:
            self.number = self._free_number()
        self._xvfb = subprocess.Popen(["Xvfb", self.display, *screen], stderr=subprocess.DEVNULL)
        self._wait_accepting()
        env = {**os.environ, "DISPLAY": self.display, "HOME": str(self._home)}
        self._wm = subprocess.Popen(
            ["openbox", "--sm-disable"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    @staticmethod
    def _free_number() -> int:
        """A display number of our own. Not the lowest free one (what -displayfd takes):
        "plugging back" restarts Xvfb on the same number, and another test on this machine
        starting Xvfb meanwhile would take the lowest number we just freed."""
        rng = random.Random()
        for _ in range(200):
            number = rng.randrange(200, 900)
            if (
                not Path(f"/tmp/.X11-unix/X{number}").exists()
                and not Path(f"/tmp/.X{number}-lock").exists()
            ):
                return number
        raise AssertionError("no free X display number")

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + 20
        socket = Path(f"/tmp/.X11-unix/X{self.number}")
        while time.monotonic() < deadline:
            if self._xvfb is not None and self._xvfb.poll() is not None:
                raise AssertionError(f"Xvfb {self.display} exited ({self._xvfb.returncode})")
            probe = subprocess.run(
                ["xdpyinfo", "-display", self.display], capture_output=True, check=False
            )
            if socket.exists() and probe.returncode == 0:
                return
            time.sleep(0.1)
        raise AssertionError(f"Xvfb {self.display} did not come back")

    def unplug(self) -> None:
        """The display goes away under the agent's window (its X connection breaks)."""
        for process in (self._wm, self._xvfb):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
        self._wm = self._xvfb = None

    def stop(self) -> None:
        self.unplug()
        shutil.rmtree(self._home, ignore_errors=True)

    def screenshot(self) -> np.ndarray:
        """The whole X screen as RGB (height x width x 3)."""
        import mss

        with mss.MSS(display=self.display) as grabber:
            shot = grabber.grab(grabber.monitors[0])
        return np.frombuffer(shot.rgb, np.uint8).reshape(shot.height, shot.width, 3)

    def window_geometry(self) -> tuple[int, int, int, int] | None:
        """Where the agent's window is on the X screen (x, y, width, height), from xwininfo:
        a window manager's frame shows as an offset."""
        out = subprocess.run(
            ["xwininfo", "-display", self.display, "-name", "StreamHub"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        fields = dict(
            line.strip().split(":", 1) for line in out.splitlines() if ":" in line.strip()
        )
        if "Width" not in fields:
            return None
        keys = ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")
        x, y, width, height = (int(fields[k]) for k in keys)
        return x, y, width, height


async def full_screen_window(desktop: Desktop, timeout: float = 30) -> bool:
    """Wait until the agent's window covers the whole screen, from its top-left corner."""
    whole = (0, 0, *desktop.size)
    return bool(
        await eventually(lambda: desktop.window_geometry() == whole, timeout=timeout, interval=0.2)
    )
