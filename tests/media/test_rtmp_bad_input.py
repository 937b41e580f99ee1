"""Bad input on the RTMP port while a lesson is taught over RTMP: garbage, a huge chunk size, an
oversized message before the key, a client that sends nothing, another application, a second
push to the same lesson. Each is closed or refused; the push, its classroom's picture and the
lesson go on."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamhub.client import LessonClient
from streamhub.protocol import Slot
from streamhub.rtmp.chunks import COMMAND_AMF0, SET_CHUNK_SIZE
from tests.media.test_rtmp import classroom_joins, issue_key, publishing, rtmp_hub, status
from tests.support.frames import FrameRun, first_frame
from tests.support.hub import AdminApi, InProcessHub
from tests.support.rtmp import Push, RawRtmp
from tests.support.wait import eventually


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[InProcessHub]:
    # A client that sends nothing is closed after 2 s rather than 10.
    async with rtmp_hub(tmp_path / "hub", auth_timeout_s=2.0) as running:
        yield running


async def test_bad_input_leaves_the_lesson_undisturbed(hub: InProcessHub, admin: AdminApi) -> None:
    lesson = await admin.lesson(classrooms=1, start=False)
    key = await issue_key(admin, lesson)
    port = hub.settings.rtmp.port
    push = await Push(key["url"]).start()
    classroom: LessonClient | None = None
    run: FrameRun | None = None
    try:
        await publishing(hub, lesson.lesson_id)
        classroom = await classroom_joins(hub, admin, lesson.credentials[0])
        video = classroom.tracks[Slot.LECTURER_VIDEO]
        await first_frame(video, "H264")
        run = FrameRun(video)
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is not None
        feed = room.feed

        # Garbage instead of a handshake.
        garbage = await RawRtmp(port).open()
        assert garbage.writer is not None
        garbage.writer.write(b"GET / HTTP/1.1\r\n\r\n" + os.urandom(4096))
        assert await garbage.closed()

        # A client that opens the connection and sends nothing (slowloris).
        slow = await RawRtmp(port).open()
        assert await slow.closed(timeout=10)

        # A huge chunk size after a proper handshake.
        huge = await RawRtmp(port).open()
        await huge.handshake()
        await huge.send(SET_CHUNK_SIZE, (0x7FFFFFFF).to_bytes(4, "big"), csid=2)
        assert await huge.closed()

        # A message far over the limit before any key (the 24-bit length allows 16 MiB).
        big = await RawRtmp(port).open()
        await big.handshake()
        assert big.writer is not None
        big.writer.write(bytes([3]) + bytes(3) + (10 << 20).to_bytes(3, "big") + bytes([20]))
        big.writer.write(bytes(4) + os.urandom(128))
        assert await big.closed()

        # publish before connect; another application than /live.
        early = await RawRtmp(port).open()
        await early.handshake()
        await early.command("publish", 5.0, None, key["stream_key"], "live", stream_id=1)
        assert await early.closed()
        other = await RawRtmp(port).open()
        await other.handshake()
        await other.command("connect", 1.0, {"app": "admin", "tcUrl": "rtmp://x/admin"})
        assert await other.closed()

        # Not AMF at all where a command should be.
        junk = await RawRtmp(port).open()
        await junk.handshake()
        await junk.send(COMMAND_AMF0, os.urandom(300))
        assert await junk.closed()

        # A second push to the same lesson while the first sends: refused.
        second = await Push(key["url"], seconds=5).start()
        assert await second.wait(20) != 0
        assert b"already publishes this lesson" in second.stderr, second.stderr

        # The push goes on: same feed, one session, the picture still moving, lesson live.
        assert room.feed is feed
        assert list(hub.services.rtmp.sessions) == [lesson.lesson_id]
        before = run.count
        await eventually(lambda: run.count >= before + 25, timeout=20)
        assert await status(admin, lesson.lesson_id) == "live"
        assert hub.services.rtmp.refused == 1
        assert push.proc is not None and push.proc.returncode is None

        # Ending the lesson ends the push.
        await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
        assert await push.wait(20) != 0
        assert hub.services.rtmp.sessions == {}
        await eventually(lambda: not hub.services.rtmp._connections, timeout=10)
    finally:
        if run is not None:
            run.stop()
        await push.stop()
        if classroom is not None:
            await classroom.close()
