"""Capsules cut from a real small archive, decoded back with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from streamhub.capsules.cut import CLIP, POSTER, THUMB, CutError, cut_clip
from streamhub.client.synthetic import read_counter
from tests.capsules.archive import FPS, finalized_archive, make_archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_archive(tmp_path_factory.mktemp("archive") / "lesson.mp4")


def _decoded(clip: Path) -> tuple[list[int], bool, float, bool]:
    """Frame numbers in order, whether the first is a key frame, the file's duration, and
    whether the file is fast start."""
    data = clip.read_bytes()
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert container.streams.audio, "audio kept"
        first_key = next(p for p in container.demux(stream) if p.size).is_keyframe
        container.seek(0)
        numbers = [read_counter(f) for f in container.decode(stream)]
        duration = float(container.duration or 0) / av.time_base
    return numbers, first_key, duration, 0 < data.find(b"moov") < data.find(b"mdat")


def test_a_clip_that_starts_on_a_key_frame_is_copied(archive: Path, tmp_path: Path) -> None:
    cut = cut_clip(archive, tmp_path, 4.0, 7.0)
    assert not cut.reencoded and cut.start_s == 4.0
    numbers, first_key, duration, fast = _decoded(tmp_path / CLIP)
    assert first_key and fast
    assert numbers == list(range(4 * FPS, 7 * FPS))
    assert abs(duration - 3.0) <= 0.1, duration
    assert (tmp_path / POSTER).stat().st_size > 0 and (tmp_path / THUMB).stat().st_size > 0


def test_a_clip_between_key_frames_is_reencoded_to_the_frame(archive: Path, tmp_path: Path) -> None:
    cut = cut_clip(archive, tmp_path, 3.4, 6.4)
    # Not an archive finalize made: its parameter sets are not the encoder's.
    assert cut.reencoded and cut.start_s == 3.4 and cut.copied_from_s is None
    numbers, first_key, duration, fast = _decoded(tmp_path / CLIP)
    assert first_key and fast
    first = round(3.4 * FPS)
    assert numbers == list(range(first, first + len(numbers))), numbers
    assert abs(duration - 3.0) <= 0.1, duration


def test_from_an_archive_finalize_made_only_the_head_is_reencoded(tmp_path: Path) -> None:
    source = finalized_archive(tmp_path / "recording")
    cut = cut_clip(source, tmp_path / "clip", 3.4, 6.4)
    # Re-encoded from 3.4 s to the archive's next key frame (4 s: the grid), copied from there.
    assert cut.reencoded and cut.copied_from_s == 4.0
    assert abs(cut.duration_s - 3.0) <= 0.1
    with av.open(str(tmp_path / "clip" / CLIP)) as container:
        numbers = [read_counter(f) for f in container.decode(video=0)]
    first = round(3.4 * FPS)
    assert numbers == list(range(first, round(6.4 * FPS))), numbers


def test_a_snapped_clip_starts_at_the_key_frame_before(archive: Path, tmp_path: Path) -> None:
    cut = cut_clip(archive, tmp_path, 3.4, 6.4, snap=True)
    assert not cut.reencoded and cut.start_s == 2.0
    numbers, first_key, duration, _ = _decoded(tmp_path / CLIP)
    assert first_key and numbers == list(range(2 * FPS, round(6.4 * FPS)))
    # Within one key-frame interval of the length asked for.
    assert 3.0 <= duration <= 3.0 + 2.0 + 0.1, duration


def _onset(clip: Path) -> float:
    """When the sound starts in the clip, from its decoded samples."""
    with av.open(str(clip)) as container:
        for frame in container.decode(audio=0):
            loud = np.flatnonzero(np.abs(frame.to_ndarray()[0]) > 0.05)
            if loud.size and frame.time is not None:
                return frame.time + loud[0] / frame.sample_rate
    raise AssertionError("no sound")


@pytest.mark.parametrize(("start", "snap"), [(3.4, False), (3.4, True)])
def test_sound_stays_with_the_picture(tmp_path: Path, start: float, snap: bool) -> None:
    source = make_archive(tmp_path / "lesson.mp4", seconds=8.0, onset_s=5.0)
    cut = cut_clip(source, tmp_path / "clip", start, start + 3.0, snap=snap)
    # The tone starts 5 s into the lesson: that far past where the clip really starts.
    assert abs(_onset(tmp_path / "clip" / CLIP) - (5.0 - cut.start_s)) <= 0.04


def test_times_outside_the_recording_are_refused(archive: Path, tmp_path: Path) -> None:
    with pytest.raises(CutError):
        cut_clip(archive, tmp_path, 5.0, 5.0)
    with pytest.raises(CutError):
        cut_clip(archive, tmp_path, 30.0, 40.0)
    assert not (tmp_path / CLIP).exists()
