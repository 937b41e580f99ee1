"""A lesson taught through the real hub is recorded, finalized and replayable."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

import av
import httpx
import pytest

from recorder.session import KeyframeCadence
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack, read_counter
from streamhub.protocol import Slot
from tests.recorder.conftest import wait_recording
from tests.support.hub import AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.vp8_check import cut_vp8_frames
from tests.support.wait import eventually

LESSON_S = 8.0


async def test_recorded_lesson_reads_back_whole_and_seeks(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1)
    camera = PatternVideoTrack(320, 240)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    await lecturer.connect({Slot.CAMERA: camera, Slot.MICROPHONE: ToneAudioTrack()})
    classroom = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
    await classroom.connect({})
    assert lecturer.joined is not None
    # The recorder is hidden: the classroom saw the lecturer join, never a recorder.
    roster = {p.role for p in classroom.joined.participants} if classroom.joined else set()
    assert "recorder" not in roster
    await asyncio.wait_for(classroom.tracks[Slot.LECTURER_VIDEO].recv(), 5)
    live = (await admin.http.get(f"/api/lessons/{lesson.lesson_id}/participants")).json()
    assert sorted(p["role"] for p in live) == ["classroom", "lecturer"]
    assert hub.recorder.active, "the recorder is in the lesson, unseen"
    first_count = camera.count
    await asyncio.sleep(LESSON_S)
    # What the lecturer sent before the lesson ended is what the archive must hold.
    published = camera.count
    await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
    await classroom.close()
    await lecturer.close()
    made = camera.count  # every frame the camera made, the lesson's last included
    rec = await wait_recording(admin.http, lesson.lesson_id)
    path = hub.settings.effective_recordings_dir
    folders = list(path.iterdir())
    assert len(folders) == 1
    mp4 = folders[0] / "lesson.mp4"
    # Every recorded frame, the first key frame above all, is as long as its header says.
    segments = sorted(folders[0].glob("lecturer_video-*.mkv"))
    assert segments
    for segment in segments:
        assert cut_vp8_frames(segment) == [], segment.name
    data = mp4.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "fast start: moov before mdat"
    with av.open(str(mp4)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        assert audio, "audio present"
        assert (video.width, video.height) == (320, 240)
        counters = [read_counter(frame) for frame in container.decode(video)]
        duration = float(container.duration / 1_000_000)
    # The recording holds the whole lesson: from the lecturer's first frame to the end. Frames
    # still on their way when the lesson ended may be cut, up to a second's worth on a loaded
    # machine (the encoder and the hub's loop lag behind the camera's clock); every one before
    # them is there, and the file's length is what its frames span.
    first, last = min(counters), max(counters)
    assert first <= first_count, (first, first_count)
    assert published - 30 <= last < made, (last, published, made)
    missing = sorted(set(range(first, last + 1)) - set(counters))
    assert len(missing) <= max(2, 0.02 * (last - first)), (len(counters), first, last, missing)
    assert abs(duration - (last - first + 1) / 30) <= 1.0, (duration, first, last)
    assert abs(rec["duration_s"] - duration) < 0.5
    with av.open(str(mp4)) as container:
        video = container.streams.video[0]
        middle = duration / 2
        container.seek(int(middle / video.time_base), stream=video, backward=True)
        frame = next(container.decode(video))
        assert abs(float(frame.pts * video.time_base) - middle) < 2.5


async def test_replay_api_serves_ranges_and_refuses_paths_and_classrooms(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1)
    lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token)
    classroom_token = await admin.device_token(lesson.credentials[0])
    await asyncio.sleep(5)
    await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
    await lecturer.close()
    rec = await wait_recording(admin.http, lesson.lesson_id)
    rid = rec["id"]
    file = next(hub.settings.effective_recordings_dir.iterdir()) / "lesson.mp4"
    data = file.read_bytes()

    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as anon:
        # The ticketed URL works without a header, as <video src> needs.
        media = await anon.get(rec["media_url"], headers={"Range": "bytes=100-1099"})
        assert media.status_code == 206
        assert media.content == data[100:1100]
        assert media.headers["content-range"] == f"bytes 100-1099/{len(data)}"
        tail = await anon.get(rec["media_url"], headers={"Range": "bytes=-500"})
        assert tail.status_code == 206 and tail.content == data[-500:]
        # A ticket is for one recording and never passes as an access token.
        ticket = rec["media_url"].split("ticket=")[1]
        assert (await anon.get(f"/api/recordings/{rid + 1}/media?ticket={ticket}")).status_code in (
            401,
            404,
        )
        as_token = await anon.get("/api/recordings", headers={"Authorization": f"Bearer {ticket}"})
        assert as_token.status_code == 401
        manifest = (await anon.get(rec["manifest_url"])).json()
        assert manifest["duration_s"] > 3
        assert manifest["thumbnails"] and manifest["poster"] == "poster.jpg"
        thumb = await anon.get(manifest["thumbnails"][0]["url"])
        assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
        poster = await anon.get(rec["poster_url"])
        assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"

        for bad in (
            "../../etc/passwd",
            "..%2f..%2fetc%2fpasswd",
            "%2e%2e%2f%2e%2e%2fcatalog.db",
            "%252e%252e%252f",
            "/etc/passwd",
            f"{rid}%00",
            "999999",
            "-1",
            "1e3",
        ):
            for suffix in ("", "/media", "/manifest", "/poster"):
                response = await anon.get(
                    f"/api/recordings/{bad}{suffix}", headers=admin.http.headers
                )
                assert response.status_code in (400, 404), (bad, suffix, response.status_code)
        thumb_bad = await anon.get(
            f"/api/recordings/{rid}/thumbnails/..%2f..%2fmanifest", headers=admin.http.headers
        )
        assert thumb_bad.status_code == 404

        classroom = {"Authorization": f"Bearer {classroom_token}"}
        for path in ("", f"/{rid}", f"/{rid}/media", f"/{rid}/manifest"):
            response = await anon.get(f"/api/recordings{path}", headers=classroom)
            assert response.status_code == 403, (path, response.status_code)
        assert (await anon.get(f"/api/recordings/{rid}/media")).status_code == 401
        assert (await anon.delete(f"/api/recordings/{rid}", headers=classroom)).status_code == 403


async def test_disk_floor_refuses_recording_and_the_lesson_goes_on(tmp_path: Path) -> None:
    async with InProcessHub(tmp_path / "hub", recorder={"disk_floor_mb": 1 << 40}) as hub:
        admin = AdminApi(hub.url)
        try:
            lesson = await admin.lesson(classrooms=1)
            lecturer = LessonClient(hub.url, lesson.lecturer_token)
            joined = await lecturer.connect({Slot.CAMERA: PatternVideoTrack(160, 120)})
            assert joined.recording is False
            assert joined.recording_note is not None and "MB free" in joined.recording_note
            classroom = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
            await classroom.connect({})
            packet = await asyncio.wait_for(classroom.tracks[Slot.LECTURER_VIDEO].recv(), 5)
            assert packet.size > 0
            page = (await admin.http.get("/api/recordings")).json()
            assert page["total"] == 0
            await classroom.close()
            await lecturer.close()
        finally:
            await admin.close()


async def test_h264_lesson_is_remuxed_without_transcoding(tmp_path: Path) -> None:
    async with InProcessHub(
        tmp_path / "hub",
        media={"video_codecs": ["H264"]},
        # The defaults: key frames asked for every 2 s while recording, so finalize can copy
        # (a source that ignored the requests would be transcoded onto the grid).
        recorder={"disk_floor_mb": 0, "thumbnail_every_s": 2.0},
    ) as hub:
        admin = AdminApi(hub.url)
        try:
            lesson = await admin.lesson(classrooms=1)
            lecturer = LessonClient(hub.url, lesson.lecturer_token, codecs=("H264", "opus"))
            await lecturer.connect(
                {Slot.CAMERA: PatternVideoTrack(320, 240), Slot.MICROPHONE: ToneAudioTrack()}
            )
            await asyncio.sleep(5)
            await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
            await lecturer.close()
            await wait_recording(admin.http, lesson.lesson_id)
        finally:
            await admin.close()
        folder = next(hub.settings.effective_recordings_dir.iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    video = next(t for t in manifest["tracks"] if t["kind"] == "video")
    assert (video["source_codec"], video["transcoded"]) == ("h264", False)
    assert manifest["poster"] == "poster.jpg" and manifest["thumbnails"]
    with av.open(str(folder / "lesson.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in container.decode(stream))
    assert frames >= 4 * 30 * 0.9
    # Seekable on the 2 s grid without transcoding: the live key frames were asked for.
    with av.open(str(folder / "lesson.mp4")) as container:
        stream = container.streams.video[0]
        keys = [
            float(p.pts * p.time_base)
            for p in container.demux(stream)
            if p.is_keyframe and p.pts is not None and p.time_base is not None
        ]
    assert len(keys) >= 2, keys
    assert max(b - a for a, b in itertools.pairwise(keys)) <= 3.0, keys


async def test_a_lesson_ended_as_it_starts_leaves_no_recording_behind(
    hub: InProcessHub, admin: AdminApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = hub.recorder
    free_mb = recorder.free_mb

    def slow_disk() -> float:
        time.sleep(0.5)  # a busy disk: the end arrives while the recorder sets up
        return free_mb()

    monkeypatch.setattr(recorder, "free_mb", slow_disk)
    lesson = await admin.lesson(classrooms=0, start=False)
    await admin.post(f"/api/lessons/{lesson.lesson_id}/start")
    await admin.post(f"/api/lessons/{lesson.lesson_id}/end")

    async def settled() -> bool:
        page = (await admin.http.get("/api/recordings")).json()
        states = [r["state"] for r in page["items"] if r["lesson_id"] == lesson.lesson_id]
        return not recorder.active and all(s in ("ready", "failed") for s in states)

    await asyncio.sleep(1.5)  # the set-up is over: what it made is what must settle
    assert await eventually(settled, timeout=30), "a recording is left 'recording'"


def test_the_recorder_asks_for_a_key_frame_when_the_last_is_two_seconds_old() -> None:
    now = [0.0]
    asked: list[float] = []
    cadence = KeyframeCadence(2.0, lambda: asked.append(now[0]), clock=lambda: now[0])
    fps = 32  # frame times exact in binary: no rounding at the thresholds
    for step in range(10 * fps):  # the source sends a key frame ~0.15 s after it is asked
        now[0] = step / fps
        late = [now[0] - t for t in asked]
        cadence.frame(keyframe=step == 0 or any(0.15 <= d < 0.15 + 1 / fps for d in late))
    # Asked ~1.8 s after each key frame (a little early), never twice for the same one.
    assert asked[0] == pytest.approx(1.8, abs=1 / fps), asked
    assert len(asked) == 5 and cadence.asked == 5, asked
    assert all(b - a >= 1.9 for a, b in itertools.pairwise(asked)), asked
    # A source that ignores the requests is asked again at most every second, not every frame.
    asked.clear()
    ignored = KeyframeCadence(2.0, lambda: asked.append(now[0]), clock=lambda: now[0])
    for step in range(10 * fps):
        now[0] = step / fps
        ignored.frame(keyframe=step == 0)
    assert len(asked) == 9, asked
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(asked)), asked
