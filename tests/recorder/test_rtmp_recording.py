"""A lesson taught from an RTMP push is recorded by remuxing its H.264 (no transcode) with its
sound (the Opus the bridge made of the AAC), and plays."""

from __future__ import annotations

import json

import av
import pytest

from tests.media.test_rtmp import issue_key, publishing
from tests.recorder.conftest import wait_recording
from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.net import free_port
from tests.support.rtmp import Push
from tests.support.wait import eventually

TAUGHT_FRAMES = 75  # 3 s of ffmpeg's 25 fps test picture


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(
        # regrid_h264 off: this is the copy path (sparse live key frames would be regridded).
        recorder={"disk_floor_mb": 0, "regrid_h264": False},
        rtmp={"enabled": True, "port": free_port()},
    )


async def test_an_rtmp_lesson_is_recorded_without_transcoding(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=False)
    key = await issue_key(admin, lesson)
    push = await Push(key["url"]).start()
    try:
        await publishing(hub, lesson.lesson_id)
        await eventually(lambda: hub.recorder.active, timeout=10)
        sources = hub.services.rtmp.sessions[lesson.lesson_id].sources.values()
        await eventually(lambda: min(s.frames for s in sources) >= TAUGHT_FRAMES, timeout=30)
        await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
        await eventually(lambda: not hub.services.rtmp.sessions, timeout=10)
        await wait_recording(admin.http, lesson.lesson_id)
    finally:
        await push.stop()
    folder = next(hub.settings.effective_recordings_dir.iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    track = next(t for t in manifest["tracks"] if t["kind"] == "video")
    assert (track["source_codec"], track["transcoded"]) == ("h264", False)
    with av.open(str(folder / "lesson.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert container.streams.audio, "the push's sound is in the recording"
        assert (stream.width, stream.height) == (320, 240)
        pictures = sum(1 for _ in container.decode(stream))
        audio = container.streams.audio[0]
        assert audio.codec_context.name in ("opus", "libopus")
    # The recording starts at the recorder's first key frame (a second at most).
    assert pictures >= 0.6 * TAUGHT_FRAMES, pictures
