"""A classroom raises its hand; the lecturer's mute request mutes its microphone, and the
classroom can speak again."""

from __future__ import annotations

import asyncio

import av
import pytest

from classroom_agent import agent as agent_module
from classroom_agent.agent import ClassroomAgent
from classroom_agent.config import AgentConfig
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import HandRaised, MutedChanged, MuteRequest, Slot
from tests.agent.conftest import fast_options
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually


class DeviceLikeMicrophone(ToneAudioTrack):
    """A tone that behaves like a capture device: once stopped, a pending read never returns."""

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        frame = await super().recv()  # waits for the next 20 ms of sound
        if self.readyState != "live":
            await asyncio.Event().wait()  # the device was closed meanwhile: no more data
        return frame


async def test_hand_raise_and_lecturer_mute_request(
    hub: InProcessHub, admin: AdminApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "audio_track", lambda spec, echo: DeviceLikeMicrophone())
    lesson = await admin.lesson(classrooms=1)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    await lecturer.connect({Slot.CAMERA: PatternVideoTrack(160, 120)})
    agent = ClassroomAgent(AgentConfig(hub.url, lesson.credentials[0]), fast_options())
    task = asyncio.create_task(agent.join_lesson(lesson.code))
    try:
        await eventually(lambda: agent.meter.packets["video"] > 5, timeout=20)
        session = agent.session
        assert session is not None and session.microphone is not None
        me = session.participant_id

        await agent.raise_hand()
        raised = await lecturer.next_event(HandRaised, timeout=5)
        assert raised.participant == me and me in raised.hands

        await lecturer.request(MuteRequest(participant=me, muted=True))
        muted = await lecturer.next_event(MutedChanged, timeout=5)
        assert (muted.participant, muted.muted) == (me, True)
        assert session.muted
        assert session.client.senders[Slot.MICROPHONE].track is None

        # The classroom's teacher speaks again: the microphone reaches the hub again, though
        # a capture device's pending read never returns once its track is stopped.
        source = hub.services.lessons.rooms[lesson.lesson_id].members[me].sources
        before = source[Slot.MICROPHONE].frames
        await session.set_muted(False)
        await eventually(lambda: source[Slot.MICROPHONE].frames > before + 25, timeout=5)
    finally:
        agent.stop()
        await asyncio.wait_for(task, 20)
        await lecturer.close()
    assert agent.status.state.value == "stopped"
