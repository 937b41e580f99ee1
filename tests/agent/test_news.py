"""The projector's news: stage, hand, microphone and chat stay on the classroom's screen until
the room presses Enter (issue 14's projector mode, for the agent's window)."""

from __future__ import annotations

import asyncio

from classroom_agent.agent import ClassroomAgent
from classroom_agent.config import AgentConfig
from classroom_agent.overlay import banners
from classroom_agent.scene import Scene
from streamhub.client import LessonClient
from streamhub.protocol import Chat, MuteRequest, StageOff, StageOn
from tests.agent.conftest import fast_options
from tests.support.hub import AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.wait import eventually


def test_news_is_drawn_large_wrapped_and_says_how_to_clear_it() -> None:
    long = "请大家打开课本第十二页，先读第一段，然后回答练习题 " * 3
    scene = Scene(
        mode="lesson",
        banners=[
            {"kind": "chat", "key": "chat_from", "name": "李老师", "text": long},
            {"kind": "stage", "key": "stage_other", "name": "第一小学"},
            {"kind": "hand", "key": "hand_lowered"},
            {"kind": "mute", "key": "muted_by_lecturer"},
        ],
    )
    image = banners(scene, (1920, 1080))
    assert image is not None
    assert image.size[0] <= 1920 // 2  # the upper left, not over the whole lecture
    assert image.size[1] > 3 * (1080 // 26)  # three banners of large type, and the footer
    assert banners(Scene(mode="lesson"), (1920, 1080)) is None


async def test_news_stays_until_the_room_reads_it(hub: InProcessHub, admin: AdminApi) -> None:
    lesson = await admin.lesson(classrooms=2)
    lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token, 160, 120)
    other = LessonClient(hub.url, await admin.device_token(lesson.credentials[1]))
    agent = ClassroomAgent(AgentConfig(hub.url, lesson.credentials[0]), fast_options())
    task = asyncio.create_task(agent.run_schedule())
    try:
        await other.connect({})
        await eventually(lambda: agent.session is not None and agent.session.participant_id)
        me = agent.session.participant_id if agent.session else None
        await lecturer.request(Chat(text="Open your books at page 12"))
        await lecturer.request(StageOn(participant=other.joined.participant.id))
        await lecturer.request(MuteRequest(participant=str(me), muted=True))
        keys = ["chat_from", "stage_other", "muted_by_lecturer"]
        await eventually(lambda: [b["key"] for b in agent.scene.banners] == keys, timeout=10)
        assert agent.scene.banners[0]["text"] == "Open your books at page 12"
        assert agent.scene.banners[0]["name"] == "Ms Li"
        assert agent.scene.banners[1]["name"] == "Class 2"
        await asyncio.sleep(0.5)  # more time passes: nothing goes away by itself
        assert len(agent.scene.banners) == 3
        agent.on_key("read")  # Enter on the projector
        assert agent.scene.banners == []
        await lecturer.request(StageOff())
        await eventually(lambda: [b["key"] for b in agent.scene.banners] == ["stage_off"])
    finally:
        agent.stop()
        await asyncio.wait_for(task, 20)
        await other.close()
        await lecturer.close()
