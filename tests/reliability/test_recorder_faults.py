"""The recorder CLI SIGKILLed at random moments of a live lesson, again and again: every file it
leaves opens, and each archive holds what was recorded up to the kill, minus a few seconds.

(A nearly full disk for the in-process recorder is the disk-floor test in tests/recorder.)"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

import av

from tests.support.hub import AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.recorder_cli import finalize_folder, record_then_kill

TRIALS = 20
MIN_TRIALS = 10  # if the machine is slow, the time budget may stop the run early
BUDGET_S = 150.0  # no new trial starts after this
MAX_LOST_S = 5.0
MEDIA = (".mkv", ".mp4", ".jpg")


@dataclass
class Trial:
    index: int
    folder: Path
    recorded: float
    video_s: float = 0.0
    audio_s: float = 0.0
    frames: int = 0
    files: int = 0
    finalize_s: float = 0.0

    @property
    def archived(self) -> float:
        """What the archive holds of the lesson: its shorter track (video and audio both)."""
        return min(self.video_s, self.audio_s)

    @property
    def lost(self) -> float:
        return self.recorded - self.archived


async def finalize(trial: Trial) -> None:
    """`recorder finalize` in its own process (CPU-bound; the hub's loop stays free)."""
    trial.finalize_s = await finalize_folder(trial.folder, "--thumbnail-every", "1")


def inspect(trial: Trial) -> None:
    """Every media file opens with PyAV; the archive is measured and fully decoded."""
    files = sorted(p for p in trial.folder.iterdir() if p.suffix in MEDIA)
    assert any(p.name == "lesson.mp4" for p in files), [p.name for p in trial.folder.iterdir()]
    for path in files:
        with av.open(str(path)) as container:
            assert container.streams, path.name
            if path.suffix != ".mkv":
                # Archive, poster and thumbnails decode; segments may end torn (killed mid-write).
                assert next(container.decode(container.streams[0]), None) is not None, path.name
    trial.files = len(files)
    with av.open(str(trial.folder / "lesson.mp4")) as container:
        assert container.streams.audio, "audio kept"
        video = container.streams.video[0]
        times = [float(f.pts * video.time_base) for f in container.decode(video)]
        trial.frames = len(times)
        trial.video_s = times[-1] + 1 / 30 if times else 0.0
    with av.open(str(trial.folder / "lesson.mp4")) as container:
        audio = container.streams.audio[0]
        end = 0.0
        for frame in container.decode(audio):
            end = float(frame.pts * audio.time_base) + frame.samples / frame.sample_rate
        trial.audio_s = end


async def test_recorder_sigkilled_at_random_moments_loses_at_most_seconds(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    trials: list[Trial] = []
    finals: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(1)  # one finalize at a time, alongside the next recording

    async def finalize_one(trial: Trial) -> None:
        async with gate:
            await finalize(trial)

    async with InProcessHub(
        tmp_path / "hub", recorder={"enabled": False}, signaling={"joins_per_minute": 1000}
    ) as hub:
        admin = AdminApi(hub.url)
        lecturer = None
        try:
            lesson = await admin.lesson(classrooms=1)
            lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token)
            path = f"/api/lessons/{lesson.lesson_id}/recorder-token"
            started = time.monotonic()
            for index in range(TRIALS):
                if time.monotonic() - started > BUDGET_S:
                    break
                token = (await admin.post(path))["token"]
                folder = tmp_path / f"trial-{index:02d}"
                hold = rng.uniform(1.5, 4.0)
                recorded = await record_then_kill(hub.url, token, folder, hold)
                trial = Trial(index, folder, recorded)
                trials.append(trial)
                finals.append(asyncio.get_running_loop().create_task(finalize_one(trial)))
            await asyncio.gather(*finals)
            # The lesson outlived every killed recorder.
            room = hub.services.lessons.rooms[lesson.lesson_id]
            assert any(m.role.value == "lecturer" for m in room.members.values())
        finally:
            for task in finals:
                task.cancel()
            if lecturer is not None:
                await lecturer.close()
            await admin.close()
        elapsed = time.monotonic() - started

    for trial in trials:
        inspect(trial)
    print(f"\nrecorder SIGKILL: {len(trials)} trials in {elapsed:.0f}s (seed {seed})")
    print(" trial  recorded s  archived s (video, audio)  lost s  frames  files  finalize s")
    for t in trials:
        print(
            f" {t.index:5d}  {t.recorded:10.2f}  {t.archived:10.2f} ({t.video_s:5.2f}, "
            f"{t.audio_s:5.2f})  {t.lost:6.2f}  {t.frames:6d}  {t.files:5d}  {t.finalize_s:10.1f}"
        )
    worst = max(trials, key=lambda t: t.lost)
    print(f"max lost: {worst.lost:.2f}s (trial {worst.index})")
    assert len(trials) >= MIN_TRIALS, len(trials)
    for t in trials:
        assert t.lost <= MAX_LOST_S, (t.index, t.recorded, t.archived, seed)
        assert max(t.video_s, t.audio_s) <= t.recorded + 1.5, (t.index, t.recorded, seed)
        assert t.frames >= (t.recorded - MAX_LOST_S) * 30 * 0.9, (t.index, t.frames, seed)
