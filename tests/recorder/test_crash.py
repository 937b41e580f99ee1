"""A recorder killed mid-lesson loses at most a few seconds: its segments finalize."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av

from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, InProcessHub

MAX_LOST_S = 5.0


async def test_sigkilled_recorder_leaves_an_archive_up_to_the_kill(tmp_path: Path) -> None:
    async with InProcessHub(tmp_path / "hub", recorder={"enabled": False}) as hub:
        admin = AdminApi(hub.url)
        lecturer = None
        proc = None
        try:
            lesson = await admin.lesson(classrooms=1)
            lecturer = LessonClient(hub.url, lesson.lecturer_token)
            await lecturer.connect(
                {Slot.CAMERA: PatternVideoTrack(320, 240), Slot.MICROPHONE: ToneAudioTrack()}
            )
            token = (await admin.post(f"/api/lessons/{lesson.lesson_id}/recorder-token"))["token"]
            folder = tmp_path / "rec"
            proc = await asyncio.create_subprocess_exec(
                *[
                    sys.executable,
                    "-m",
                    "recorder",
                    "record",
                    "--hub",
                    hub.url,
                    "--token",
                    token,
                    "--dir",
                    str(folder),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            first = folder / "lecturer_video-000.mkv"
            deadline = time.monotonic() + 20
            while not (first.exists() and first.stat().st_size > 0):
                assert time.monotonic() < deadline, "the recorder never wrote a segment"
                await asyncio.sleep(0.05)
            began = time.monotonic()
            await asyncio.sleep(8)
            os.kill(proc.pid, signal.SIGKILL)
            killed = time.monotonic()
            await asyncio.wait_for(proc.wait(), 10)
        finally:
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
            if lecturer is not None:
                await lecturer.close()
            await admin.close()

    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "recorder", "finalize", str(folder), stderr=subprocess.PIPE
    )
    _, err = await asyncio.wait_for(done.communicate(), 120)
    assert done.returncode == 0, err.decode()[-2000:]
    recorded = killed - began
    with av.open(str(folder / "lesson.mp4")) as container:
        duration = float(container.duration / 1_000_000)
        frames = sum(1 for _ in container.decode(container.streams.video[0]))
        assert container.streams.audio
    print(f"recorder SIGKILL: recorded {recorded:.1f}s, archive holds {duration:.1f}s")
    assert recorded - MAX_LOST_S <= duration <= recorded + 1.0
    assert frames >= (recorded - MAX_LOST_S) * 30 * 0.9
