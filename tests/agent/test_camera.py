"""The camera device: opened when a lesson needs it, reopened after it fails, never silent.

The OS camera is stood in for by an object with cv2.VideoCapture's surface (the one part a test
machine has no real device for); the rest (threads, health, tracks) is the real code."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from classroom_agent.camera import Camera
from classroom_agent.health import Device, Health
from classroom_agent.media_sources import SourceSpec
from tests.support.wait import eventually


class FakeCapture:
    """cv2.VideoCapture's surface: a 160x120 picture per read until ``unplug``."""

    def __init__(self) -> None:
        self.released = 0
        self.plugged = threading.Event()
        self.plugged.set()

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.plugged.is_set():
            return False, None
        time.sleep(1 / 60)  # a camera delivers at its frame rate
        return True, np.zeros((120, 160, 3), np.uint8)

    def release(self) -> None:
        self.released += 1


async def test_a_camera_pulled_out_mid_lesson_is_reported_and_used_again_when_back() -> None:
    health = Health()
    capture = FakeCapture()
    opened: list[int] = []

    def opener(index: int) -> FakeCapture | None:
        if not capture.plugged.is_set():
            return None
        opened.append(index)
        return capture

    camera = Camera("0", health, opener=opener, retry_s=0.05)
    track = camera.track()
    try:
        frame = await track.recv()
        assert (frame.width, frame.height) == (160, 120)
        assert health.state(Device.CAMERA).value == "ok"

        capture.plugged.clear()
        await eventually(lambda: health.state(Device.CAMERA).value == "missing", timeout=5)
        assert health.report().camera == "missing"

        capture.plugged.set()
        await eventually(lambda: health.state(Device.CAMERA).value == "ok", timeout=5)
        before = camera.frames
        frame = await track.recv()
        assert (frame.width, frame.height) == (160, 120) and len(opened) == 2
        await eventually(lambda: camera.frames > before + 2, timeout=5)
    finally:
        # Closing the peer connection stops the track; closing the session stops it again.
        track.stop()
        track.stop()
        camera.close()
    assert capture.released == 2  # once when it failed, once at the end


def test_source_syntax() -> None:
    assert SourceSpec.video("camera") == SourceSpec("camera", "auto")
    assert SourceSpec.video("camera:2") == SourceSpec("camera", "2")
    assert SourceSpec.video("camera:HD Webcam") == SourceSpec("camera", "HD Webcam")
    assert SourceSpec.audio("mic") == SourceSpec("mic", "auto")
    assert SourceSpec.audio("mic:USB Audio") == SourceSpec("mic", "USB Audio")
    assert SourceSpec.audio("tone").synthetic
    with pytest.raises(ValueError):
        SourceSpec.video("mic")
    with pytest.raises(ValueError):
        SourceSpec.audio("testpattern")
    with pytest.raises(ValueError):
        SourceSpec.video("file")
