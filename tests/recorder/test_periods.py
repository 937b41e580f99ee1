"""Stage and screen-share periods of a live lesson end up in its archive: their own files, the
manifest's stage periods (with the classroom's name) and its chapters, with the lecturer's
question and mark among them."""

from __future__ import annotations

import asyncio
import json

import av

from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import (
    HandRaised,
    Mark,
    OpenQuestion,
    RaiseHand,
    ScreenShare,
    Slot,
    StageOff,
    StageOn,
)
from tests.recorder.conftest import wait_recording
from tests.support.hub import AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching

PERIOD_S = 3.0


def video_size(path: str) -> tuple[int, int, int]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.width, stream.height, frames


async def test_stage_and_screen_share_are_recorded_as_periods(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1)
    lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token)
    classroom = LessonClient(
        hub.url, await admin.device_token(lesson.credentials[0]), name="Room 7"
    )
    await classroom.connect(
        {Slot.CAMERA: PatternVideoTrack(160, 120), Slot.MICROPHONE: ToneAudioTrack(880)}
    )
    try:
        await asyncio.wait_for(classroom.tracks[Slot.LECTURER_VIDEO].recv(), 5)
        await classroom.send(RaiseHand())
        raised = await lecturer.next_event(HandRaised)
        await lecturer.request(StageOn(participant=raised.participant))
        await asyncio.sleep(1.0)
        await lecturer.request(OpenQuestion(text="2+2?", options=4))
        await asyncio.sleep(PERIOD_S - 1.0)
        await lecturer.request(StageOff())
        lecturer.publish(Slot.SCREEN, PatternVideoTrack(640, 360, fps=10))
        await lecturer.request(ScreenShare(on=True))
        await asyncio.sleep(1.0)
        await lecturer.request(Mark(label="Experiment"))
        await asyncio.sleep(PERIOD_S - 1.0)
        await lecturer.request(ScreenShare(on=False))
        lecturer.publish(Slot.SCREEN, None)
        await asyncio.sleep(1.0)
        await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
    finally:
        await classroom.close()
        await lecturer.close()
    await wait_recording(admin.http, lesson.lesson_id)
    folder = next(hub.settings.effective_recordings_dir.iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())

    [period] = manifest["stage_periods"]
    assert period["participant"] == raised.participant
    assert classroom.joined is not None
    assert period["name"] and period["name"] == classroom.joined.participant.name
    assert abs(period["end_s"] - period["start_s"] - PERIOD_S) < 1.0, period
    titles = [c["title"] for c in manifest["chapters"]]
    assert titles == [
        "Lesson",
        "Question 1: 2+2?",
        "Screen share",
        "Experiment",
        "Lecturer",
    ], manifest["chapters"]
    question, share, mark = manifest["chapters"][1:4]
    assert share["start_s"] >= period["end_s"]
    assert period["start_s"] <= question["start_s"] < period["end_s"], (question, period)
    assert (question["kind"], mark["kind"]) == ("question", "mark")

    assert manifest["files"]["stage"] == "stage.mp4"
    width, height, frames = video_size(str(folder / "stage.mp4"))
    assert (width, height) == (160, 120) and frames >= (PERIOD_S - 1) * 30
    assert manifest["files"]["screen"] == "screen.mp4"
    width, height, frames = video_size(str(folder / "screen.mp4"))
    assert (width, height) == (640, 360) and frames >= (PERIOD_S - 1) * 10
