"""A lecturer teaching a lesson for a test: a moving pattern with a frame counter and a tone."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, LessonSetup


async def lecturer_teaching(
    url: str, token: str, width: int = 320, height: int = 240
) -> LessonClient:
    """A lecturer joined and publishing camera and microphone (closed again if joining fails)."""
    lecturer = LessonClient(url, token)
    try:
        await lecturer.connect(
            {Slot.CAMERA: PatternVideoTrack(width, height), Slot.MICROPHONE: ToneAudioTrack()}
        )
    except BaseException:
        await lecturer.close()
        raise
    return lecturer


@contextlib.asynccontextmanager
async def lesson_taught(
    hub_url: str, classrooms: int = 1, width: int = 320, height: int = 240
) -> AsyncIterator[tuple[AdminApi, LessonSetup, LessonClient]]:
    """A live lesson with a lecturer teaching it, and the admin API that made it; both closed
    afterwards."""
    admin = AdminApi(hub_url)
    lecturer: LessonClient | None = None
    try:
        lesson = await admin.lesson(classrooms=classrooms)
        lecturer = await lecturer_teaching(hub_url, lesson.lecturer_token, width, height)
        yield admin, lesson, lecturer
    finally:
        if lecturer is not None:
            await lecturer.close()
        await admin.close()
