"""A recorder killed mid-lesson loses at most a few seconds: its segments finalize."""

from __future__ import annotations

from pathlib import Path

import av

from tests.support.hub import AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.recorder_cli import finalize_folder, record_then_kill

MAX_LOST_S = 5.0


async def test_sigkilled_recorder_leaves_an_archive_up_to_the_kill(tmp_path: Path) -> None:
    async with InProcessHub(tmp_path / "hub", recorder={"enabled": False}) as hub:
        admin = AdminApi(hub.url)
        lecturer = None
        try:
            lesson = await admin.lesson(classrooms=1)
            lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token)
            token = (await admin.post(f"/api/lessons/{lesson.lesson_id}/recorder-token"))["token"]
            folder = tmp_path / "rec"
            recorded = await record_then_kill(hub.url, token, folder, hold=8)
        finally:
            if lecturer is not None:
                await lecturer.close()
            await admin.close()

    await finalize_folder(folder)
    with av.open(str(folder / "lesson.mp4")) as container:
        duration = float(container.duration / 1_000_000)
        frames = sum(1 for _ in container.decode(container.streams.video[0]))
        assert container.streams.audio
    print(f"recorder SIGKILL: recorded {recorded:.1f}s, archive holds {duration:.1f}s")
    assert recorded - MAX_LOST_S <= duration <= recorded + 1.0
    assert frames >= (recorded - MAX_LOST_S) * 30 * 0.9
