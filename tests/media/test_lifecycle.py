"""Participants come and go without leaking tasks or threads; a vanished one is removed."""

from __future__ import annotations

import asyncio
import threading
import time

from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import ParticipantLeft, Slot
from tests.support.hub import AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.wait import eventually


def counts() -> tuple[int, int]:
    # Two bounded pools start workers on demand and keep them for reuse: the loop's default
    # executor (asyncio_N) and the catalog's SQLite connection pool (one aiosqlite thread per
    # pooled connection). They are not leaks, so they are not counted.
    pooled = ("asyncio_", "_connection_worker_thread")
    threads = [t for t in threading.enumerate() if not any(p in t.name for p in pooled)]
    return len(threads), len(asyncio.all_tasks())


async def test_fifty_join_leave_cycles_return_to_baseline(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1)
    lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120)
    try:
        token = await admin.device_token(lesson.credentials[0])
        room = hub.services.lessons.rooms[lesson.lesson_id]

        async def cycle() -> None:
            client = LessonClient(hub.url, token)
            await client.connect({Slot.MICROPHONE: ToneAudioTrack()})
            await asyncio.wait_for(client.tracks[Slot.LECTURER_VIDEO].recv(), 5)
            await client.close()
            await eventually(lambda: len(room.classrooms()) == 0, timeout=10)

        await cycle()  # warm-up: codecs, executors and thread pools that stay by design
        await asyncio.sleep(0.5)
        baseline = counts()
        for _ in range(50):
            await cycle()
        await eventually(lambda: counts() <= baseline, timeout=15)
    finally:
        await lecturer.close()


async def test_a_classroom_that_stops_answering_ice_consent_is_removed_within_10s(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=2)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    await lecturer.connect({Slot.CAMERA: PatternVideoTrack(160, 120)})
    gone = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
    await gone.connect({Slot.MICROPHONE: ToneAudioTrack()})
    other = LessonClient(hub.url, await admin.device_token(lesson.credentials[1]))
    await other.connect({})
    try:
        await asyncio.wait_for(gone.tracks[Slot.LECTURER_VIDEO].recv(), 5)
        gone_id = gone.joined.participant.id
        # The PC loses its network: its ICE agent stops answering, its WebSocket stays open.
        assert gone.pc is not None
        ice = gone.pc.getTransceivers()[0].receiver.transport.transport
        await ice._connection.close()
        started = time.monotonic()

        async def left() -> bool:
            event = await lecturer.next_event(ParticipantLeft, timeout=12)
            return event.participant == gone_id

        assert await eventually(left, timeout=12)
        assert time.monotonic() - started < 10.5
        # The other classroom is unaffected.
        await asyncio.wait_for(other.tracks[Slot.LECTURER_VIDEO].recv(), 5)
    finally:
        for client in (gone, other, lecturer):
            await client.close()
