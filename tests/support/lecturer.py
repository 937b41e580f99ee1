"""A lecturer teaching a lesson for a test: a moving pattern with a frame counter and a tone."""

from __future__ import annotations

from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import Slot


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
