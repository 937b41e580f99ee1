"""WHIP (RFC 9725): an aiortc WHIP client publishes the lecturer's camera and microphone over
real HTTP into an in-process hub, and a Python classroom decodes the picture and the sound;
DELETE takes the lecturer away again. The lecturer page may stay open to moderate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiortc.mediastreams import MediaStreamTrack

from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack, read_counter
from streamhub.protocol import (
    ParticipantJoined,
    ParticipantLeft,
    Role,
    ScreenShareChanged,
    Slot,
)
from tests.support.frames import AGENT_CODECS, first_frame
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually
from tests.support.whip import WhipClient


async def next_picture(track: object, decoder: FrameDecoder, timeout: float = 20.0) -> object:
    """The next decoded picture. One decoder per track: a VP8 decoder started mid-stream has
    no key frame to start from (the publisher sends one only when asked)."""

    async def run() -> object:
        while True:
            frames = decoder.decode(await track.recv())  # type: ignore[attr-defined]
            if frames:
                return frames[-1]

    return await asyncio.wait_for(run(), timeout)


class Frozen(MediaStreamTrack):
    """A source that stopped delivering (a frozen encoder): ``recv`` never returns."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> None:  # type: ignore[override]
        await asyncio.Event().wait()


async def classroom_joins(hub: InProcessHub, admin: AdminApi, credential: str) -> LessonClient:
    client = LessonClient(hub.url, await admin.device_token(credential), codecs=AGENT_CODECS)
    await client.connect({Slot.CAMERA: None, Slot.MICROPHONE: None})
    return client


async def test_obs_like_publisher_is_the_lecturer_a_classroom_sees_and_hears(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=False)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    classroom: LessonClient | None = None
    try:
        response = await whip.publish()
        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/sdp"
        assert response.headers["location"].startswith(f"/whip/{lesson.code}/")
        assert response.headers["etag"].startswith('"')
        assert "a=candidate:" in response.text  # every candidate up front: no trickle needed
        # Publishing went live, as the lecturer page's "Go live" does.
        status = (await admin.http.get(f"/api/lessons/{lesson.lesson_id}")).json()["status"]
        assert status == "live"

        classroom = await classroom_joins(hub, admin, lesson.credentials[0])
        assert classroom.joined is not None
        assert classroom.joined.video_codec == "H264"  # the WHIP client's, forwarded as is
        lecturers = [p for p in classroom.joined.participants if p.role is Role.LECTURER]
        assert [p.name for p in lecturers] == ["Ms Li"]

        frame = await first_frame(classroom.tracks[Slot.LECTURER_VIDEO], "H264")
        assert (frame.width, frame.height) == (320, 240)
        assert whip.video is not None
        assert 0 <= read_counter(frame) < whip.video.count
        opus = FrameDecoder("opus")
        audio = await asyncio.wait_for(classroom.tracks[Slot.LECTURER_AUDIO].recv(), 10)
        assert opus.decode(audio)

        metrics = (await admin.http.get("/metrics")).text
        assert 'streamhub_whip_sessions{publishes="camera"} 1.0' in metrics

        # DELETE ends it: the classroom sees the lecturer leave, the slots are free again.
        deleted = await whip.delete()
        assert deleted.status_code == 204, deleted.text
        left = await classroom.next_event(ParticipantLeft, timeout=10)
        assert left.participant == lecturers[0].id
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is None and room.lecturer is None
        assert hub.services.whip.sessions == {}
        again = await whip.delete()
        assert again.status_code == 404
        assert again.headers["content-type"] == "application/problem+json"
    finally:
        if classroom is not None:
            await classroom.close()
        await whip.close()


async def test_lecturer_page_moderates_while_whip_holds_camera_and_microphone(
    hub: InProcessHub, admin: AdminApi
) -> None:
    """The page that joins after the WHIP publisher does not take its slots: the classroom
    keeps the WHIP picture (320x240), not the page's camera (640x480)."""
    lesson = await admin.lesson(classrooms=1, start=True)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "VP8")
    classroom: LessonClient | None = None
    page = LessonClient(hub.url, lesson.lecturer_token, codecs=AGENT_CODECS)
    try:
        assert (await whip.publish()).status_code == 201
        classroom = await classroom_joins(hub, admin, lesson.credentials[0])
        assert classroom.joined is not None and classroom.joined.video_codec == "VP8"
        await page.connect({Slot.CAMERA: PatternVideoTrack(), Slot.MICROPHONE: ToneAudioTrack()})
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.lecturer is not None and room.feed is not None
        assert room.lecturer.id == page.joined.participant.id  # type: ignore[union-attr]

        video, decoder = classroom.tracks[Slot.LECTURER_VIDEO], FrameDecoder("VP8")
        for _ in range(10):
            frame = await next_picture(video, decoder)
            assert (frame.width, frame.height) == (320, 240)  # type: ignore[attr-defined]
        # The page sees its classroom in a tile, as without WHIP.
        await eventually(lambda: any(page.tiles.values()), timeout=10)

        # The page leaving does not take the lecturer's media with it.
        await page.close()
        await eventually(lambda: room.lecturer is None, timeout=10)
        for _ in range(10):
            frame = await next_picture(video, decoder)
            assert (frame.width, frame.height) == (320, 240)  # type: ignore[attr-defined]
        assert room.feed is not None
    finally:
        await page.close()
        if classroom is not None:
            await classroom.close()
        await whip.close()


async def test_a_classroom_present_before_the_publisher_sees_the_lecturer_arrive(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=True)
    classroom = await classroom_joins(hub, admin, lesson.credentials[0])
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    try:
        assert (await whip.publish()).status_code == 201
        joined = await classroom.next_event(ParticipantJoined, timeout=10)
        assert joined.participant.role is Role.LECTURER
        assert classroom.joined is not None
        frame = await first_frame(
            classroom.tracks[Slot.LECTURER_VIDEO], classroom.joined.video_codec
        )
        assert (frame.width, frame.height) == (320, 240)
    finally:
        await classroom.close()
        await whip.close()


async def test_revoking_the_lecturer_link_ends_the_whip_session(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=True)
    link = await admin.post(f"/api/lessons/{lesson.lesson_id}/lecturer-link")
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", link["token"], "H264")
    classroom = await classroom_joins(hub, admin, lesson.credentials[0])
    try:
        assert (await whip.publish()).status_code == 201
        joined = await classroom.next_event(ParticipantJoined, timeout=10)
        assert (await admin.http.delete(f"/api/tokens/{link['token_id']}")).status_code == 200
        left = await classroom.next_event(ParticipantLeft, timeout=10)
        assert left.participant == joined.participant.id
        await eventually(lambda: not hub.services.whip.sessions, timeout=10)
        assert (await whip.delete()).status_code == 401  # the link itself is refused now
    finally:
        await classroom.close()
        await whip.close()


async def test_a_publisher_that_vanishes_without_delete_leaves_the_lesson(
    hub: InProcessHub, admin: AdminApi
) -> None:
    """OBS killed, a capture box unplugged: the media connection ends, and so does the session
    (no DELETE ever comes); the slots are free for the next POST."""
    lesson = await admin.lesson(classrooms=1, start=True)
    classroom = await classroom_joins(hub, admin, lesson.credentials[0])
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    again = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    try:
        assert (await whip.publish()).status_code == 201
        joined = await classroom.next_event(ParticipantJoined, timeout=10)
        assert whip.pc is not None
        await eventually(lambda: whip.pc.connectionState == "connected", timeout=20)
        await whip.pc.close()
        left = await classroom.next_event(ParticipantLeft, timeout=30)
        assert left.participant == joined.participant.id
        await eventually(lambda: not hub.services.whip.sessions, timeout=10)
        assert (await again.publish()).status_code == 201
    finally:
        await classroom.close()
        await again.close()
        await whip.close()


@pytest.fixture
async def impatient_hub(tmp_path: Path) -> AsyncIterator[InProcessHub]:
    # Media must connect within 1 s (20 s by default): the test does not wait the default out.
    async with InProcessHub(
        tmp_path / "hub", recorder={"enabled": False}, signaling={"peer_timeout_s": 1.0}
    ) as running:
        yield running


async def test_a_publisher_whose_media_never_connects_is_dropped(
    impatient_hub: InProcessHub,
) -> None:
    hub = impatient_hub
    admin = AdminApi(hub.url)
    lesson = await admin.lesson(classrooms=1, start=True)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    try:
        # The offer is posted, the answer never applied: no connectivity check ever comes.
        response = await whip.http.post(
            whip.endpoint,
            content=(await whip.offer()).encode(),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {whip.token}"},
        )
        assert response.status_code == 201
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is not None
        await eventually(lambda: room.feed is None and not hub.services.whip.sessions, timeout=15)
    finally:
        await whip.close()
        await admin.close()


async def test_a_silent_publisher_gives_way_to_a_new_post_a_sending_one_does_not(
    hub: InProcessHub, admin: AdminApi
) -> None:
    """OBS restarting posts again while the hub still holds its old session: refused while the
    old one sends (409), taken over once it has sent nothing for a few seconds."""
    lesson = await admin.lesson(classrooms=1, start=True)
    classroom = await classroom_joins(hub, admin, lesson.credentials[0])
    old = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264", 320, 240)
    new = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264", 640, 480)
    try:
        assert (await old.publish()).status_code == 201
        assert classroom.joined is not None
        video, decoder = classroom.tracks[Slot.LECTURER_VIDEO], FrameDecoder("H264")
        frame = await next_picture(video, decoder)
        assert frame.width == 320  # type: ignore[attr-defined]
        refused = await new.http.post(
            new.endpoint,
            content=(await new.offer()).encode(),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {new.token}"},
        )
        assert refused.status_code == 409
        await new.close()

        # The old publisher stops sending but stays connected (a frozen encoder, a crashed
        # app whose connection lingers): a new POST takes over once it has been silent.
        assert old.pc is not None
        for transceiver in old.pc.getTransceivers():
            transceiver.sender.replaceTrack(Frozen(transceiver.kind))
        new = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264", 640, 480)

        async def taken_over() -> bool:
            response = await new.publish()
            if response.status_code == 409:
                await new.close()
                return False
            assert response.status_code == 201, response.text
            return True

        for _ in range(40):
            if await taken_over():
                break
            new = WhipClient(
                f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264", 640, 480
            )
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("the silent session was never replaced")
        left = await classroom.next_event(ParticipantLeft, timeout=10)
        assert left.reason == "replaced"
        # The new publisher's picture follows the last ones of the old (still on their way).
        for _ in range(90):
            frame = await next_picture(video, decoder)
            if frame.width == 640:  # type: ignore[attr-defined]
                break
        else:
            raise AssertionError("the new publisher's picture never came")
        assert len(hub.services.whip.sessions) == 1
    finally:
        await classroom.close()
        await new.close()
        await old.close()


async def test_a_second_whip_session_publishes_the_screen(
    hub: InProcessHub, admin: AdminApi
) -> None:
    """A capture box with a camera output and a slides output: the second goes to
    /whip/CODE/screen and every classroom sees it as the lecturer's shared screen."""
    lesson = await admin.lesson(classrooms=1, start=True)
    classroom = await classroom_joins(hub, admin, lesson.credentials[0])
    camera = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    screen_url = f"{hub.url}/whip/{lesson.code}/screen"
    screen = WhipClient(screen_url, lesson.lecturer_token, "H264", 640, 480, with_audio=False)
    extra = WhipClient(screen_url, lesson.lecturer_token, "H264", 640, 480, with_audio=False)
    with_audio = WhipClient(screen_url, lesson.lecturer_token, "H264", 640, 480)
    try:
        assert (await camera.publish()).status_code == 201
        assert (await screen.publish()).status_code == 201
        shared = await classroom.next_event(ScreenShareChanged, timeout=10)
        assert shared.on
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is not None and room.screen_feed is not None and room.screen_on
        pictures = FrameDecoder("H264")
        frame = await next_picture(classroom.tracks[Slot.SCREEN_VIDEO], pictures)
        assert (frame.width, frame.height) == (640, 480)  # type: ignore[attr-defined]
        lecturer, lecturer_pictures = classroom.tracks[Slot.LECTURER_VIDEO], FrameDecoder("H264")
        frame = await next_picture(lecturer, lecturer_pictures)
        assert (frame.width, frame.height) == (320, 240)  # type: ignore[attr-defined]

        assert (await extra.publish()).status_code == 409  # one screen at a time
        refused = await with_audio.publish()
        assert refused.status_code == 406, refused.text  # a screen has no sound

        assert (await screen.delete()).status_code == 204
        stopped = await classroom.next_event(ScreenShareChanged, timeout=10)
        assert not stopped.on
        assert room.screen_feed is None and not room.screen_on and room.feed is not None
        frame = await next_picture(lecturer, lecturer_pictures)
        assert (frame.width, frame.height) == (320, 240)  # type: ignore[attr-defined]
    finally:
        await classroom.close()
        for client in (camera, screen, extra, with_audio):
            await client.close()
