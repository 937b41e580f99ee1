"""Time in audio only in the register (issue 16): a classroom that asks for sound only, gets
video back, and leaves while in audio only again has its real audio-only time counted, the
open stretch ending with its session."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from streamhub.client import LessonClient
from streamhub.protocol import AudioOnly
from tests.support.hub import AdminApi, HubFactory
from tests.support.wait import eventually


async def test_real_audio_only_time_is_counted(make_hub: HubFactory) -> None:
    hub = await make_hub(recorder={"enabled": False})
    admin = AdminApi(hub.url)
    classroom: LessonClient | None = None
    truth = 0.0
    try:
        lesson = await admin.lesson(classrooms=2)
        classroom = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
        await classroom.connect({})
        began = time.time()
        await classroom.request(AudioOnly(enabled=True))  # its link went poor
        await asyncio.sleep(2.0)  # a while in audio only: the time to count
        await classroom.request(AudioOnly(enabled=False))
        truth += time.time() - began
        await asyncio.sleep(0.5)
        began = time.time()
        await classroom.request(AudioOnly(enabled=True))
        await asyncio.sleep(1.0)
        await classroom.close()  # leaves still in audio only
        truth += time.time() - began
        classroom = None
        await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
        lines = await eventually(lambda: _final(admin, lesson.lesson_id), timeout=15)
    finally:
        if classroom is not None:
            await classroom.close()
        await admin.close()
    came, never = lines
    # Minutes are rounded to 0.01 (0.6 s), and the hub ends the open stretch when it has
    # handled the leave, a moment after the client closed.
    assert abs(came["audio_only_minutes"] * 60 - truth) <= 1.5, (came, truth)
    assert came["audio_only_minutes"] <= came["minutes_present"], came
    assert never["audio_only_minutes"] == 0, never


async def _final(admin: AdminApi, lesson_id: int) -> list[dict[str, Any]] | None:
    response = await admin.http.get(f"/api/lessons/{lesson_id}/attendance/classrooms")
    assert response.status_code == 200, response.text
    lines = list(response.json())
    return lines if lines[0]["last_left_at"] else None
