"""Every recorder is its own identity (issue 13, item 9): the hub's own recorder and a
`recorder record` process record the same lesson side by side, a token holder who keeps
rejoining never cuts the hub's recording short, and a recorder that is refused or closed
before the lesson ends says so with its exit code."""

from __future__ import annotations

import time
from pathlib import Path

import av
import pytest

from streamhub.client import LessonClient
from streamhub.client.session import ClientError
from streamhub.errors import ErrorCode
from tests.recorder.conftest import wait_recording
from tests.support.hub import InProcessHub
from tests.support.lecturer import lesson_taught
from tests.support.recorder_cli import recorder_exit, start_recorder
from tests.support.wait import eventually

LESSON_S = 8.0


def archive_seconds(folder: Path) -> float:
    with av.open(str(folder / "lesson.mp4")) as container:
        return float(container.duration / 1_000_000)


def hub_folder(hub: InProcessHub) -> Path:
    return next(p for p in hub.settings.effective_recordings_dir.iterdir() if p.is_dir())


async def test_an_external_recorder_and_the_hubs_own_record_side_by_side(
    tmp_path: Path,
) -> None:
    async with InProcessHub(
        tmp_path / "hub", recorder={"disk_floor_mb": 0}, signaling={"joins_per_minute": 1000}
    ) as hub:
        async with lesson_taught(hub.url) as (admin, lesson, _):
            service = hub.recorder
            await eventually(lambda: lesson.lesson_id in service.active, timeout=15)
            own = service.active[lesson.lesson_id]
            path = f"/api/lessons/{lesson.lesson_id}/recorder-token"
            token = (await admin.post(path))["token"]
            external = await start_recorder(hub.url, token, tmp_path / "external")
            room = hub.services.lessons.rooms[lesson.lesson_id]
            await eventually(lambda: sum(m.hidden for m in room.members.values()) == 2, 20)
            started = time.monotonic()
            # A holder of a recorder token joins and leaves again and again.
            rejoins = 0
            while time.monotonic() - started < LESSON_S:
                pest = LessonClient(hub.url, (await admin.post(path))["token"])
                await pest.connect({})
                await pest.close()
                rejoins += 1
            assert rejoins >= 3
            assert external.returncode is None, "the external recorder is still recording"
            assert len(own.sessions) == 1, "the hub's own recording was never interrupted"
            await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
            taught = time.monotonic() - started
            code, err = await recorder_exit(external)
            rec = await wait_recording(admin.http, lesson.lesson_id)
        own_folder = hub_folder(hub)
    assert code == 0, err[-2000:]
    assert archive_seconds(tmp_path / "external") >= taught - 1.0
    assert archive_seconds(own_folder) >= taught - 1.0
    assert rec["duration_s"] >= taught - 1.0


async def test_a_refused_recorder_and_one_closed_before_the_end_exit_non_zero(
    tmp_path: Path,
) -> None:
    async with InProcessHub(
        tmp_path / "hub",
        recorder={"disk_floor_mb": 0},
        signaling={"max_recorders_per_lesson": 1},
    ) as hub:
        async with lesson_taught(hub.url) as (admin, lesson, _):
            service = hub.recorder
            await eventually(lambda: lesson.lesson_id in service.active, timeout=15)
            path = f"/api/lessons/{lesson.lesson_id}/recorder-token"
            first = await start_recorder(hub.url, (await admin.post(path))["token"], tmp_path / "a")
            room = hub.services.lessons.rooms[lesson.lesson_id]
            await eventually(lambda: sum(m.hidden for m in room.members.values()) == 2, 20)
            # The first takes the lesson's one place for a recorder from outside.
            token = (await admin.post(path))["token"]
            second = await start_recorder(hub.url, token, tmp_path / "b")
            code, err = await recorder_exit(second, timeout=60)
            assert code == 1, err[-2000:]
            assert "recorders" in err, err[-2000:]
            # The hub's own recorder is never kept out: its session drops, it gets back in.
            own = next(m for m in room.members.values() if m.hidden and "hub" in m.grant.sub)
            own.close(ErrorCode.MEDIA_LOST, "dropped by the test")
            # A recorder from outside that tries to take the place meanwhile is refused.
            grabber = LessonClient(hub.url, (await admin.post(path))["token"])
            with pytest.raises(ClientError) as refused:
                await grabber.connect({})
            await grabber.close()
            assert refused.value.code == "too_many_recorders"
            sessions = service.active[lesson.lesson_id].sessions
            await eventually(lambda: len(sessions) == 2 and sessions[1].connected.is_set(), 20)
            # The hub closes the first recorder's session before the lesson ends.
            external = next(
                m for m in room.members.values() if m.hidden and "hub" not in m.grant.sub
            )
            external.close(ErrorCode.TOKEN_REVOKED, "closed by the test")
            code, err = await recorder_exit(first, timeout=60)
            assert code == 3, err[-2000:]
            assert "before the lesson ended" in err
            assert any((tmp_path / "a").glob("lecturer_video-*.mkv")), "its segments are kept"
            assert len(sessions) == 2, "the hub's own recorder was not disturbed by that"
