"""The agent's own capture tracks, with a stand-in for the OS camera."""

from __future__ import annotations

import asyncio

import numpy as np

from classroom_agent.media_sources import CameraTrack


class FakeCapture:
    """cv2.VideoCapture's surface: a 160x120 picture per read."""

    def __init__(self) -> None:
        self.released = 0

    def read(self) -> tuple[bool, np.ndarray]:
        return True, np.zeros((120, 160, 3), np.uint8)

    def release(self) -> None:
        self.released += 1


async def test_a_camera_track_stopped_twice_releases_the_device_once() -> None:
    capture = FakeCapture()
    track = CameraTrack(capture, 30.0)
    frame = await track.recv()
    assert (frame.width, frame.height) == (160, 120)
    # Closing the peer connection stops it; closing the session stops it again.
    track.stop()
    track.stop()
    await asyncio.sleep(0.1)
    assert capture.released == 1
