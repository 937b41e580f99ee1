"""The PC's cameras, microphones, loudspeakers and screens, and choosing one by index or name.

``camera:auto`` is the first camera that opens, ``camera:1`` the second, ``camera:Logitech``
the first whose name contains "logitech"; microphones and outputs likewise by name
(``mic:auto`` and ``--audio-output default`` follow the system's default device, which is
what a sound settings panel changes). ``classroom-agent devices`` prints all of them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

V4L_ROOT = Path("/sys/class/video4linux")
PROBED_CAMERAS = 4  # where the OS cannot list cameras, try indexes 0..3


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # camera | microphone | output | screen
    index: int
    name: str
    default: bool = False
    detail: str = ""


class NoDevice(LookupError):
    """No device of that kind matches (or none exists)."""


# ------------------------------------------------------------------ cameras


def cameras(probe: bool = False) -> list[DeviceInfo]:
    """Capture devices by OpenCV index. On Linux from sysfs (instant, with names); elsewhere
    only when ``probe`` is set, by opening indexes in turn (slow: for ``devices``)."""
    if sys.platform.startswith("linux"):
        found: list[DeviceInfo] = []
        if not V4L_ROOT.is_dir():
            return found  # no video4linux device has ever appeared
        for node in sorted(V4L_ROOT.glob("video*"), key=lambda p: int(p.name[5:] or 0)):
            # A USB camera has a capture node (index 0) and a metadata node (index 1).
            if _read(node / "index", "0") != "0":
                continue
            found.append(DeviceInfo("camera", int(node.name[5:]), _read(node / "name", node.name)))
        return found
    if not probe:
        return []
    import cv2

    found = []
    for index in range(PROBED_CAMERAS):
        capture = cv2.VideoCapture(index)
        if capture.isOpened():
            found.append(DeviceInfo("camera", index, f"camera {index}"))
        capture.release()
    return found


def pick_camera(arg: str) -> list[int]:
    """The OpenCV indexes to try, best first, for ``camera:ARG`` (auto, N or a name)."""
    if arg.isdigit():
        return [int(arg)]
    listed = cameras()
    if arg in ("", "auto"):
        # Where the OS cannot list cameras, index 0 is the default one.
        return [c.index for c in listed] if sys.platform.startswith("linux") else [0]
    wanted = arg.casefold()
    matches = [c.index for c in listed if wanted in c.name.casefold()]
    if not matches:
        raise NoDevice(f"no camera named like {arg!r} (have: {_names(listed)})")
    return matches


# ------------------------------------------------------------------ sound


def _sounddevice() -> Any:
    import sounddevice

    return sounddevice


def refresh_audio() -> None:
    """Make PortAudio list devices afresh (a USB microphone plugged in after start)."""
    sd = _sounddevice()
    try:
        sd._terminate()
    finally:
        sd._initialize()


def sound_devices(kind: str) -> list[DeviceInfo]:
    """``microphone`` or ``output`` devices as PortAudio sees them."""
    sd = _sounddevice()
    channels = "max_input_channels" if kind == "microphone" else "max_output_channels"
    default = _default_index(sd, kind)
    return [
        DeviceInfo(
            kind,
            int(d["index"]),
            str(d["name"]),
            default=int(d["index"]) == default,
            detail=f"{sd.query_hostapis(d['hostapi'])['name']}, {d['default_samplerate']:.0f} Hz",
        )
        for d in sd.query_devices()
        if d[channels] > 0
    ]


def pick_sound_device(kind: str, arg: str) -> int | None:
    """The PortAudio index for ``mic:ARG`` / ``--audio-output ARG``: None is the default
    device (followed even when the user changes it), a name picks the first that matches."""
    if arg in ("", "auto", "default"):
        sd = _sounddevice()
        if _default_index(sd, kind) < 0:
            raise NoDevice(f"no default {kind}")
        return None
    listed = sound_devices(kind)
    if arg.isdigit():
        if not any(d.index == int(arg) for d in listed):
            raise NoDevice(f"no {kind} with index {arg} (have: {_names(listed)})")
        return int(arg)
    wanted = arg.casefold()
    for device in listed:
        if wanted in device.name.casefold():
            return device.index
    raise NoDevice(f"no {kind} named like {arg!r} (have: {_names(listed)})")


def sound_device_name(kind: str, index: int | None) -> str:
    sd = _sounddevice()
    try:
        chosen = _default_index(sd, kind) if index is None else index
        return str(sd.query_devices(chosen)["name"])
    except Exception:  # the device went away between listing and asking
        return "default" if index is None else f"device {index}"


def _default_index(sd: Any, kind: str) -> int:
    default = sd.default.device[0 if kind == "microphone" else 1]
    if default is not None and int(default) >= 0:
        return int(default)
    try:
        info = sd.query_devices(kind="input" if kind == "microphone" else "output")
    except Exception:  # PortAudio has no default of this kind
        return -1
    return int(info["index"])


# ------------------------------------------------------------------ screens


def screens() -> list[DeviceInfo]:
    """The monitors (projectors) SDL sees, by index for ``--display window:N``."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.display.init()
    try:
        # Without an X or Wayland display SDL falls back to an offscreen driver that reports
        # a made-up 1024x768 screen: that is no projector.
        if pygame.display.get_driver() in ("offscreen", "dummy") and not os.environ.get(
            "SDL_VIDEODRIVER"
        ):
            raise NoDevice("no display (DISPLAY is not set, or no X server answers)")
        sizes = pygame.display.get_desktop_sizes()
        names = [_display_name(pygame, i) for i in range(len(sizes))]
        return [
            DeviceInfo("screen", i, names[i], default=i == 0, detail=f"{w}x{h}")
            for i, (w, h) in enumerate(sizes)
        ]
    finally:
        pygame.display.quit()


def _display_name(pygame: Any, index: int) -> str:
    name = getattr(pygame.display, "get_display_name", None)  # pygame-ce only
    try:
        return str(name(index)) if name else f"screen {index}"
    except Exception:  # an old SDL without names
        return f"screen {index}"


# ------------------------------------------------------------------ listing


def inventory() -> dict[str, Any]:
    """Everything ``classroom-agent devices`` prints; a kind that cannot be listed says why."""
    listing: dict[str, Any] = {}
    listers: tuple[tuple[str, Callable[[], list[DeviceInfo]]], ...] = (
        ("cameras", lambda: cameras(probe=True)),
        ("microphones", lambda: sound_devices("microphone")),
        ("outputs", lambda: sound_devices("output")),
        ("screens", screens),
    )
    for kind, lister in listers:
        try:
            listing[kind] = [asdict(d) for d in lister()]
        except Exception as exc:  # no PortAudio, no display, no OpenCV: say so, list the rest
            listing[kind] = []
            listing[f"{kind}_error"] = f"{type(exc).__name__}: {exc}"
    return listing


def print_inventory(listing: dict[str, Any], out: Any = sys.stdout) -> None:
    hints = {
        "cameras": "--video-source camera:N or camera:NAME",
        "microphones": "--audio-source mic:NAME",
        "outputs": "--audio-output NAME",
        "screens": "--display window:N",
    }
    for kind, hint in hints.items():
        out.write(f"{kind} ({hint}):\n")
        rows = listing.get(kind) or []
        if not rows:
            out.write(f"  none ({listing.get(f'{kind}_error', 'nothing found')})\n")
        for row in rows:
            mark = "*" if row["default"] else " "
            detail = f"  [{row['detail']}]" if row["detail"] else ""
            out.write(f" {mark}{row['index']:>3}  {row['name']}{detail}\n")
    out.write("(* = the default)\n")


def _names(devices: list[DeviceInfo]) -> str:
    return ", ".join(f"{d.index}: {d.name}" for d in devices) or "none"


def _read(path: Path, default: str) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return default
