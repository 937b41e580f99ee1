"""Finalize puts a key frame at least every ``keyframe_every_s`` into the archive, however
sparse the live key frames were (a low frame rate: 5 fps, one key frame in 20 s)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recorder.finalize import finalize

FPS = 5
SECONDS = 12


def _segment(path: Path, codec: str) -> None:
    """A lecturer video segment as the recorder writes one: Matroska, one key frame at the
    start and none after (what a low-rate live stream looks like)."""
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height = 160, 120
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = 1000
        if codec == "libx264":
            stream.codec_context.options = {"preset": "ultrafast", "sc_threshold": "0"}
        for n in range(FPS * SECONDS):
            # A still picture with a small square moving: the encoder makes no key frame of
            # its own (a picture changing all over would be all intra frames).
            image = np.full((120, 160, 3), 90, dtype=np.uint8)
            x = (n * 3) % 140
            image[50:70, x : x + 20] = (220, 60, 60)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = n
            frame.time_base = Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _key_times(path: Path) -> tuple[list[float], float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys, last = [], 0.0
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = float(packet.pts * stream.time_base)
            last = max(last, t)
            if packet.is_keyframe:
                keys.append(t)
    return sorted(keys), last


@pytest.mark.parametrize("codec", ["libvpx", "libx264"])
def test_finalized_archive_has_key_frames_on_a_two_second_grid(tmp_path: Path, codec: str) -> None:
    _segment(tmp_path / "lecturer_video-000.mkv", codec)
    manifest = finalize(tmp_path, thumbnail_every_s=30.0, keyframe_every_s=2.0)
    video = next(t for t in manifest["tracks"] if t["kind"] == "video")
    assert video["transcoded"] is True  # VP8 always; H.264 because its key frames are sparse
    keys, last = _key_times(tmp_path / "lesson.mp4")
    assert keys[0] == 0.0
    gaps = [b - a for a, b in zip(keys, [*keys[1:], last], strict=True)]
    # The grid plus one frame at most (a key frame is forced on the first frame past a line).
    assert max(gaps) <= 2.0 + 1 / FPS + 1e-3, keys
    assert len(keys) >= SECONDS // 2


def test_h264_is_copied_as_it_came_when_regrid_is_off(tmp_path: Path) -> None:
    _segment(tmp_path / "lecturer_video-000.mkv", "libx264")
    manifest = finalize(tmp_path, keyframe_every_s=2.0, regrid_h264=False)
    video = next(t for t in manifest["tracks"] if t["kind"] == "video")
    assert video["transcoded"] is False
    keys, _ = _key_times(tmp_path / "lesson.mp4")
    assert keys == [0.0]  # copied: the live key frames, no others
