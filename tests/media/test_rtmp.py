"""The RTMP bridge: Debian's ``ffmpeg`` pushes H.264/AAC over RTMP into an in-process hub, as
a lecture-capture box would, and a Python classroom decodes the lecturer's picture (forwarded as
is) and sound (AAC transcoded to Opus). Wrong and revoked keys are refused at ``publish``,
before any media; revoking a running push's key ends it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.protocol import ParticipantLeft, Role, Slot
from tests.support.frames import AGENT_CODECS, first_frame
from tests.support.hub import AdminApi, HubFactory, InProcessHub, LessonSetup
from tests.support.net import free_port
from tests.support.rtmp import Push
from tests.support.wait import eventually


def rtmp_settings(**rtmp: Any) -> dict[str, Any]:
    """A hub with its RTMP bridge on (a free port), with these RTMP settings."""
    return {
        "recorder": {"enabled": False},
        "signaling": {"joins_per_minute": 1000},
        "rtmp": {"enabled": True, "port": free_port(), **rtmp},
    }


def rtmp_hub(data_dir: Path, **rtmp: Any) -> InProcessHub:
    """Not started: for the tests that stop it themselves."""
    return InProcessHub(data_dir, **rtmp_settings(**rtmp))


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(**rtmp_settings())


async def issue_key(admin: AdminApi, lesson: LessonSetup) -> dict[str, Any]:
    return dict(await admin.post(f"/api/lessons/{lesson.lesson_id}/rtmp-key"))


async def classroom_joins(hub: InProcessHub, admin: AdminApi, credential: str) -> LessonClient:
    client = LessonClient(hub.url, await admin.device_token(credential), codecs=AGENT_CODECS)
    await client.connect({Slot.CAMERA: None, Slot.MICROPHONE: None})
    return client


async def publishing(hub: InProcessHub, lesson_id: int) -> None:
    def feed_in_room() -> bool:
        room = hub.services.lessons.rooms.get(lesson_id)
        return room is not None and room.feed is not None

    await eventually(feed_in_room, timeout=20)


async def status(admin: AdminApi, lesson_id: int) -> str:
    return str((await admin.http.get(f"/api/lessons/{lesson_id}")).json()["status"])


async def test_rtmp_push_is_the_lecturer_a_classroom_sees_and_hears(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=False)
    key = await issue_key(admin, lesson)
    assert key["server_url"] == f"rtmp://127.0.0.1:{hub.settings.rtmp.port}/live"
    assert key["url"] == f"{key['server_url']}/{key['stream_key']}"
    listed = (await admin.http.get("/api/tokens", params={"kind": "rtmp_key"})).json()
    assert [t["id"] for t in listed] == [key["token_id"]]
    # The lecturer link sees the same key (its page shows it); a classroom does not.
    shown = await admin.http.get(
        f"/api/lessons/{lesson.lesson_id}/rtmp",
        headers={"Authorization": f"Bearer {lesson.lecturer_token}"},
    )
    assert shown.status_code == 200
    assert shown.json() == {"enabled": True, "server_url": key["server_url"], "key": key}

    push = await Push(key["url"]).start()
    classroom: LessonClient | None = None
    try:
        await publishing(hub, lesson.lesson_id)
        assert await status(admin, lesson.lesson_id) == "live"  # the push went live
        classroom = await classroom_joins(hub, admin, lesson.credentials[0])
        assert classroom.joined is not None
        assert classroom.joined.video_codec == "H264"
        lecturers = [p for p in classroom.joined.participants if p.role is Role.LECTURER]
        assert [(p.name, p.rtmp, p.whip) for p in lecturers] == [("Ms Li", True, None)]

        frame = await first_frame(classroom.tracks[Slot.LECTURER_VIDEO], "H264")
        assert (frame.width, frame.height) == (320, 240)
        opus = FrameDecoder("opus")
        audio = await asyncio.wait_for(classroom.tracks[Slot.LECTURER_AUDIO].recv(), 10)
        decoded = opus.decode(audio)
        assert decoded and decoded[0].sample_rate == 48000 and decoded[0].samples == 960

        metrics = (await admin.http.get("/metrics")).text
        assert "streamhub_rtmp_pushes 1.0" in metrics
        assert 'streamhub_whip_sessions{publishes="camera"} 0.0' in metrics

        # The encoder stops: the lecturer leaves, the slots are free again.
        await push.stop()
        left = await classroom.next_event(ParticipantLeft, timeout=10)
        assert left.participant == lecturers[0].id
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is None
        assert hub.services.rtmp.sessions == {}
    finally:
        await push.stop()
        if classroom is not None:
            await classroom.close()


async def test_wrong_and_revoked_keys_are_refused_at_publish(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=False)
    key = await issue_key(admin, lesson)
    revoked = await issue_key(admin, lesson)
    await admin.http.delete(f"/api/tokens/{revoked['token_id']}")
    token_id, mac = key["stream_key"].split("-")
    wrong = [
        "nonsense",
        f"{token_id}-{'0' * 32}",  # a forged MAC
        f"{int(token_id) + 100}-{mac}",  # another row
        revoked["stream_key"],
    ]
    bridge = hub.services.rtmp
    for attempt, stream_key in enumerate(wrong, start=1):
        push = await Push(f"{key['server_url']}/{stream_key}", seconds=5).start()
        code = await push.wait(20)
        assert code != 0, push.stderr
        assert b"unknown, revoked or expired stream key" in push.stderr
        assert bridge.refused == attempt
    # Nothing joined and nothing started: the lesson is still scheduled, no room, no feed.
    assert await status(admin, lesson.lesson_id) == "scheduled"
    assert lesson.lesson_id not in hub.services.lessons.rooms
    assert bridge.sessions == {}

    # The same lesson's good key is taken.
    push = await Push(key["url"]).start()
    try:
        await publishing(hub, lesson.lesson_id)
    finally:
        await push.stop()


async def test_revoking_the_key_ends_a_running_push(hub: InProcessHub, admin: AdminApi) -> None:
    lesson = await admin.lesson(classrooms=1, start=True)
    key = await issue_key(admin, lesson)
    push = await Push(key["url"]).start()
    classroom: LessonClient | None = None
    try:
        await publishing(hub, lesson.lesson_id)
        classroom = await classroom_joins(hub, admin, lesson.credentials[0])
        await first_frame(classroom.tracks[Slot.LECTURER_VIDEO], "H264")
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is not None
        feed_id = room.feed.id

        response = await admin.http.delete(f"/api/tokens/{key['token_id']}")
        assert response.status_code == 200
        left = await classroom.next_event(ParticipantLeft, timeout=10)
        assert left.participant == feed_id
        assert await push.wait(20) != 0  # the hub closed the connection under it
        assert hub.services.rtmp.sessions == {} and room.feed is None

        again = await Push(key["url"], seconds=5).start()
        assert await again.wait(20) != 0
        assert room.feed is None
        assert await status(admin, lesson.lesson_id) == "live"  # the lesson goes on
    finally:
        await push.stop()
        if classroom is not None:
            await classroom.close()


async def test_a_push_on_a_vp8_lesson_or_beside_the_lecturer_page_is_refused(
    hub: InProcessHub, admin: AdminApi
) -> None:
    """H.264 cannot be forwarded into a VP8 lesson (no transcoding), and the page that already
    publishes holds the camera and microphone."""
    from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack

    lesson = await admin.lesson(classrooms=1, start=True)
    key = await issue_key(admin, lesson)
    page = LessonClient(hub.url, lesson.lecturer_token, codecs=("VP8", "opus"))
    try:
        await page.connect({Slot.CAMERA: PatternVideoTrack(), Slot.MICROPHONE: ToneAudioTrack()})
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.video_codec == "VP8"
        push = await Push(key["url"], seconds=5).start()
        assert await push.wait(20) != 0
        assert b"lecturer page already publishes" in push.stderr, push.stderr
        await page.close()
        await eventually(lambda: room.lecturer is None, timeout=10)
        # The page left; the lesson's codec stays VP8 (its classrooms decode VP8).
        push = await Push(key["url"], seconds=5).start()
        assert await push.wait(20) != 0
        assert b"lesson's video is VP8" in push.stderr, push.stderr
        assert room.feed is None and hub.services.rtmp.sessions == {}
    finally:
        await page.close()


async def test_the_hub_stopping_ends_a_push(tmp_path: Path) -> None:
    async with rtmp_hub(tmp_path / "hub") as hub:
        admin = AdminApi(hub.url)
        try:
            lesson = await admin.lesson(classrooms=0, start=False)
            key = await issue_key(admin, lesson)
            push = await Push(key["url"]).start()
            await publishing(hub, lesson.lesson_id)
            bridge = hub.services.rtmp
        finally:
            await admin.close()
    try:
        assert await push.wait(20) != 0
        assert bridge.sessions == {}
        assert not bridge._connections and not bridge._tasks
    finally:
        await push.stop()


async def test_rtmp_is_off_by_default(tmp_path: Path) -> None:
    async with InProcessHub(tmp_path / "hub", recorder={"enabled": False}) as hub:
        assert hub.services.rtmp is None
        admin = AdminApi(hub.url)
        try:
            lesson = await admin.lesson(classrooms=0, start=False)
            response = await admin.http.post(f"/api/lessons/{lesson.lesson_id}/rtmp-key")
            assert response.status_code == 409
            assert response.json()["code"] == "rtmp_disabled"
            shown = await admin.http.get(f"/api/lessons/{lesson.lesson_id}/rtmp")
            assert shown.json() == {"enabled": False, "server_url": None, "key": None}
        finally:
            await admin.close()


async def test_a_taken_rtmp_port_stops_the_hub_with_a_clear_message(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from streamhub.config import load_settings
    from streamhub.errors import ConfigError
    from streamhub.rtmp.bridge import RtmpBridge

    taken = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    settings = load_settings(None, data_dir=tmp_path, rtmp={"enabled": True, "port": port})
    bridge = RtmpBridge(SimpleNamespace(settings=settings))  # type: ignore[arg-type]
    try:
        with pytest.raises(ConfigError, match=rf"rtmp\.port: cannot listen on 127\.0\.0\.1:{port}"):
            await bridge.start()
    finally:
        await bridge.close()
        taken.close()
        await taken.wait_closed()


async def test_whip_is_refused_while_a_push_holds_the_camera(
    hub: InProcessHub, admin: AdminApi
) -> None:
    from tests.support.whip import WhipClient

    lesson = await admin.lesson(classrooms=0, start=False)
    key = await issue_key(admin, lesson)
    push = await Push(key["url"]).start()
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    try:
        await publishing(hub, lesson.lesson_id)
        response = await whip.publish()
        assert response.status_code == 409
        assert response.json()["code"] == "whip_busy"
        assert "an RTMP push already publishes" in response.json()["detail"]
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is not None and room.feed.ingest == "rtmp"
    finally:
        await whip.close()
        await push.stop()
