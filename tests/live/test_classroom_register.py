"""A lesson's register (issue 16, attendance per classroom): one line per invited classroom,
its minutes merged across reconnects and a hub SIGKILL within 2 s of the truth, an invited
classroom that never came listed as absent, and the same register as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path
from typing import Any

from streamhub.client import LessonClient
from tests.support.hub import AdminApi, HubProcess
from tests.support.lecturer import lecturer_teaching
from tests.support.wait import eventually

BEAT_S = 0.5  # attendance marked seen twice a second: a crash loses at most half a second


async def test_a_classroom_that_rejoined_and_outlived_a_crash_is_one_line(
    tmp_path: Path,
) -> None:
    hub = HubProcess(tmp_path / "hub")
    hub.extra_env = {
        "STREAMHUB_ATTENDANCE_SEEN_EVERY_S": str(BEAT_S),
        "STREAMHUB_RECORDER__ENABLED": "false",
        # Rejoining three times in a few seconds is what this classroom does.
        "STREAMHUB_SIGNALING__JOINS_PER_MINUTE": "1000",
    }
    await asyncio.to_thread(hub.start)
    admin = AdminApi(hub.url)
    lecturer: LessonClient | None = None
    present: list[tuple[float, float]] = []  # the truth: when the classroom was connected
    try:
        lesson = await admin.lesson(classrooms=2)
        token = await admin.device_token(lesson.credentials[0])
        lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120)

        async def attend(seconds: float, crash: bool = False) -> None:
            classroom = LessonClient(hub.url, token)
            await classroom.connect({})
            joined = time.time()
            await asyncio.sleep(seconds)  # present a while: seen by several beats
            if crash:
                left = time.time()
                await asyncio.to_thread(hub.kill)
            else:
                await classroom.close()
                left = time.time()
            present.append((joined, left))
            if crash:
                await classroom.close()

        await attend(2.0)
        await attend(1.5)  # a network drop: the agent reconnects
        await attend(2.0, crash=True)  # the hub dies under it
        assert lecturer is not None
        await lecturer.close()
        await asyncio.to_thread(hub.start)
        lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120)
        await attend(2.0)
        await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
        lines = await eventually(
            lambda: _register(admin, lesson.lesson_id), timeout=20, interval=0.3
        )
        response = await admin.http.get(
            f"/api/lessons/{lesson.lesson_id}/attendance/classrooms", params={"format": "csv"}
        )
    finally:
        if lecturer is not None:
            await lecturer.close()
        await admin.close()
        await asyncio.to_thread(hub.stop)

    came, never = lines
    assert [came["classroom_id"], never["classroom_id"]] == lesson.classroom_ids
    truth_min = sum(left - joined for joined, left in present) / 60
    assert abs(came["minutes_present"] - truth_min) * 60 <= 2.0, (came, truth_min * 60)
    assert came["sessions"] == 4 and came["drops"] == 3, came
    assert came["status"] == "present" and came["invited"], came
    assert never["status"] == "absent" and never["minutes_present"] == 0, never
    assert never["sessions"] == 0 and never["first_joined_at"] is None, never

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # spreadsheet programs then read Chinese names right
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["status"] for r in rows] == ["present", "absent"]
    assert [r["name"] for r in rows] == [came["name"], never["name"]]
    assert float(rows[0]["minutes_present"]) == came["minutes_present"]


async def _register(admin: AdminApi, lesson_id: int) -> list[dict[str, Any]] | None:
    response = await admin.http.get(f"/api/lessons/{lesson_id}/attendance/classrooms")
    assert response.status_code == 200, response.text
    lines = list(response.json())
    # Every session of the classroom that came is closed: the register is final.
    return lines if lines and lines[0]["last_left_at"] else None
