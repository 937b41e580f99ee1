"""Bad input on the RTMP port while a lesson is taught over RTMP: garbage, a huge chunk size, an
oversized message before the key, a client that sends nothing, another application, a second
push to the same lesson. Each is closed or refused; the push, its classroom's picture and the
lesson go on."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from streamhub.client import LessonClient
from streamhub.protocol import Slot
from streamhub.rtmp.chunks import COMMAND_AMF0, SET_CHUNK_SIZE
from tests.media.test_rtmp import (
    classroom_joins,
    issue_key,
    publishing,
    rtmp_hub,
    rtmp_settings,
    status,
)
from tests.support.frames import FrameRun, first_frame
from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.rtmp import Push, RawRtmp
from tests.support.wait import eventually


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    # A client that sends nothing is closed after 2 s rather than 10; a silent push after 5.
    return await make_hub(**rtmp_settings(auth_timeout_s=2.0, idle_timeout_s=5.0))


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


async def raw_publish(port: int, stream_key: str) -> RawRtmp:
    """A client that publishes with a good key, then sends nothing (a stuck box)."""
    raw = await RawRtmp(port).open()
    await raw.handshake()
    await raw.command("connect", 1.0, {"app": "live", "tcUrl": f"rtmp://127.0.0.1:{port}/live"})
    await raw.command("createStream", 2.0, None)
    await raw.command("publish", 3.0, None, stream_key, "live", stream_id=1)
    return raw


async def test_a_stuck_push_gives_way_to_the_box_reconnecting(
    hub: InProcessHub, admin: AdminApi
) -> None:
    """A push that stopped sending (its box lost the network; the old connection is still
    open) is replaced by the next push of the same lesson after 3 s of silence, and a push
    that stays silent is ended by ``rtmp.idle_timeout_s``."""
    lesson = await admin.lesson(classrooms=1, start=True)
    key = await issue_key(admin, lesson)
    port = hub.settings.rtmp.port
    stuck = await raw_publish(port, key["stream_key"])
    push = Push(key["url"])
    try:
        await publishing(hub, lesson.lesson_id)
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is not None
        old = room.feed.id
        session = hub.services.rtmp.sessions[lesson.lesson_id]
        # Within its first 3 s even a silent push keeps the lesson.
        if not session.stale(time.monotonic()):
            early = await Push(key["url"], seconds=5).start()
            assert await early.wait(20) != 0
            assert room.feed is not None and room.feed.id == old
        await eventually(lambda: session.stale(time.monotonic()), timeout=10)
        await push.start()
        await eventually(lambda: room.feed is not None and room.feed.id != old, timeout=20)
        assert await stuck.closed()  # the hub closed the old connection
        await push.stop()
        await eventually(lambda: room.feed is None, timeout=10)

        # Silent from the start, with nobody to replace it: the idle timeout ends it.
        silent = await raw_publish(port, key["stream_key"])
        await publishing(hub, lesson.lesson_id)
        await eventually(lambda: room.feed is None, timeout=20)
        assert await silent.closed()
        assert hub.services.rtmp.sessions == {}
    finally:
        await push.stop()
        await stuck.close()


async def test_connections_over_the_limit_are_closed_at_once(tmp_path: Path) -> None:
    async with rtmp_hub(tmp_path / "hub", max_connections=3, auth_timeout_s=3.0) as hub:
        admin = AdminApi(hub.url)
        push: Push | None = None
        knocking: list[RawRtmp] = []
        try:
            lesson = await admin.lesson(classrooms=0, start=False)
            key = await issue_key(admin, lesson)
            push = await Push(key["url"]).start()
            await publishing(hub, lesson.lesson_id)
            port = hub.settings.rtmp.port
            knocking = [await RawRtmp(port).open() for _ in range(2)]
            await eventually(lambda: len(hub.services.rtmp._connections) == 3, timeout=5)
            extra = await RawRtmp(port).open()
            assert await extra.closed(timeout=2)  # at once, not after the 3 s set-up time
            # The push holds its place meanwhile; the knockers are closed in time.
            assert hub.services.rtmp.sessions.keys() == {lesson.lesson_id}
            for raw in knocking:
                assert await raw.closed(timeout=10)
            assert push.proc is not None and push.proc.returncode is None
        finally:
            for raw in knocking:
                await raw.close()
            if push is not None:
                await push.stop()
            await admin.close()
