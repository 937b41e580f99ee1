"""A classroom raises its hand; the lecturer's mute request mutes its microphone."""

from __future__ import annotations

import asyncio

from classroom_agent.agent import ClassroomAgent
from classroom_agent.config import AgentConfig
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack
from streamhub.protocol import HandRaised, MutedChanged, MuteRequest, Slot
from tests.agent.conftest import fast_options
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually


async def test_hand_raise_and_lecturer_mute_request(hub: InProcessHub, admin: AdminApi) -> None:
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
        assert session.muted and session.microphone is None
        assert session.client.senders[Slot.MICROPHONE].track is None
    finally:
        agent.stop()
        await asyncio.wait_for(task, 20)
        await lecturer.close()
    assert agent.status.state.value == "stopped"
