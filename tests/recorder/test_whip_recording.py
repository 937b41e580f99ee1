"""A lesson taught over WHIP in H.264 (camera, microphone and a screen) is recorded by remuxing,
not transcoding, and plays; its end closes the WHIP sessions."""

from __future__ import annotations

import json

import av
import pytest

from streamhub.client.synthetic import read_counter
from tests.recorder.conftest import wait_recording
from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.wait import eventually
from tests.support.whip import WhipClient

TAUGHT_FRAMES = 90  # 3 s of the WHIP client's 30 fps pattern


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    # regrid_h264 off: this is the copy path (sparse live key frames would be regridded).
    recorder = {"disk_floor_mb": 0, "thumbnail_every_s": 2.0, "regrid_h264": False}
    return await make_hub(recorder=recorder)


async def test_a_whip_lesson_is_recorded_without_transcoding(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=False)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    screen = WhipClient(
        f"{hub.url}/whip/{lesson.code}/screen", lesson.lecturer_token, "H264", 640, 480, False
    )
    try:
        assert (await whip.publish()).status_code == 201
        assert (await screen.publish()).status_code == 201
        assert whip.video is not None and screen.video is not None
        video, slides = whip.video, screen.video
        await eventually(lambda: hub.recorder.active, timeout=10)
        await eventually(
            lambda: video.count >= TAUGHT_FRAMES and slides.count >= TAUGHT_FRAMES, timeout=30
        )
        await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
        # The lesson's end ends its WHIP sessions: nothing left to DELETE.
        await eventually(lambda: not hub.services.whip.sessions, timeout=10)
        assert (await whip.delete()).status_code == 404
        await wait_recording(admin.http, lesson.lesson_id)
    finally:
        await screen.close()
        await whip.close()
    folder = next(hub.settings.effective_recordings_dir.iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    track = next(t for t in manifest["tracks"] if t["kind"] == "video")
    assert (track["source_codec"], track["transcoded"]) == ("h264", False)
    with av.open(str(folder / "lesson.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert container.streams.audio, "the WHIP client's sound is in the recording"
        assert (stream.width, stream.height) == (320, 240)
        counters = [read_counter(frame) for frame in container.decode(stream)]
    # The recording holds what the WHIP client sent (its frame counters), most of it at least:
    # the first key frame comes on request.
    assert len(counters) >= 0.6 * TAUGHT_FRAMES, len(counters)
    assert counters == sorted(counters)
    with av.open(str(folder / "screen.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (640, 480)
        assert sum(1 for _ in container.decode(stream)) >= 0.6 * TAUGHT_FRAMES
