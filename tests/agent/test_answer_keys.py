"""The projector's keys for the lecturer's question, without a hub: a choice question takes the
option's digit, or after C the room's counts per option (digits, Tab/arrows, Enter); a number
question the digits typed (shown on the projector) and Enter; the news still clears with Enter
when nothing is typed; once the time is up the keys answer nothing and the card says so. A fake
session stands in for the hub's."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from classroom_agent import overlay
from classroom_agent.agent import ClassroomAgent
from classroom_agent.config import AgentConfig
from streamhub.protocol import QuestionInfo
from tests.agent.conftest import fast_options
from tests.support.wait import eventually


class FakeSession:
    def __init__(self, question: QuestionInfo) -> None:
        self.question = question
        self.answered: str | None = None
        self.hand_raised = self.muted = self.audio_only = self.on_stage = False
        self.last_stats = None
        self.participant_id = "cls-1"
        self.sent: list[tuple[str, Any]] = []
        self.question_deadline: float | None = None

    def time_is_up(self) -> bool:
        return self.question_deadline is not None and time.time() >= self.question_deadline

    async def answer_counts(self, counts: dict[str, int]) -> None:
        self.sent.append(("counts", counts))

    async def answer_option(self, index: int) -> None:
        self.sent.append(("option", index))

    async def answer_number(self, value: float) -> None:
        self.sent.append(("number", value))

    async def quick_reply(self, kind: str) -> None:
        self.sent.append(("reply", kind))


def question(kind: str, options: list[str]) -> QuestionInfo:
    return QuestionInfo(id=1, number=1, text="?", kind=kind, options=options, opened_at=0.0)  # type: ignore[arg-type]


async def test_keys_answer_the_question() -> None:
    agent = ClassroomAgent(AgentConfig("http://127.0.0.1:9", "shc_x" * 4), fast_options())
    fake = FakeSession(question("choice", ["A", "B", "C"]))
    agent.session = fake  # type: ignore[assignment]
    agent.on_key("digit:2")
    agent.on_key("digit:0")  # no option 0
    agent.on_key("reply:slower")
    agent.on_key("reply:bored")  # not a quick reply
    await eventually(lambda: len(fake.sent) == 2)
    assert fake.sent == [("option", 1), ("reply", "slower")]

    fake.question = question("number", [])
    fake.sent.clear()
    for key in ("digit:1", "digit:2", "digit:.", "digit:5", "backspace", "digit:7"):
        agent.on_key(key)
    assert agent.scene.question["typed"] == "12.7"
    agent.news.append({"kind": "chat", "key": "chat_from"})
    agent.on_key("read")
    await eventually(lambda: fake.sent == [("number", 12.7)])
    assert agent.news and agent.scene.question["typed"] == ""
    agent.on_key("read")  # nothing typed: the news was read
    assert agent.news == []


async def test_keys_enter_the_rooms_counts() -> None:
    agent = ClassroomAgent(AgentConfig("http://127.0.0.1:9", "shc_x" * 4), fast_options())
    fake = FakeSession(question("choice", ["A", "B", "C", "D"]))
    agent.session = fake  # type: ignore[assignment]
    agent.on_key("counts")
    assert agent.scene.question["counting"] is True
    for key in ("digit:1", "digit:2", "next", "digit:0", "digit:2", "digit:5", "next", "digit:9"):
        agent.on_key(key)
    agent.on_key("backspace")  # C: nothing after all
    agent.on_key("digit:3")
    for key in ("prev", "prev", "prev", "digit:4"):  # from C back round past A to D
        agent.on_key(key)
    assert agent.scene.question["counts"] == ["12", "25", "3", "4"]
    assert agent.scene.question["at"] == 3
    for key in ("digit:9", "digit:9", "digit:9", "digit:9"):  # 49999 is over any room: refused
        agent.on_key(key)
    assert agent.scene.question["counts"][3] == "4999"
    agent.news.append({"kind": "chat", "key": "chat_from"})
    agent.on_key("read")
    await eventually(lambda: fake.sent == [("counts", {"A": 12, "B": 25, "C": 3, "D": 4999})])
    assert agent.news  # Enter sent the counts; the news is still to read
    assert agent.scene.question["counting"] is False
    image = overlay.question_card(agent.scene, (1280, 720), now=time.time())
    assert image is not None

    # All zeros is not an answer: nothing sent, Enter still taken.
    fake.sent.clear()
    agent.on_key("counts")
    agent.on_key("digit:0")
    agent.on_key("read")
    assert agent.news and agent.scene.question["counting"] is True
    # C again: back to one agreed answer by digit.
    agent.on_key("counts")
    agent.on_key("digit:3")
    await eventually(lambda: fake.sent == [("option", 2)])
    # A new question starts from nothing typed.
    agent.on_key("counts")
    agent.on_key("digit:7")
    fake.question = question("choice", ["A", "B"]).model_copy(update={"id": 2, "number": 2})
    agent.on_key("counts")
    assert agent.scene.question["counts"] == ["", ""]


async def test_when_the_time_is_up_the_keys_answer_nothing() -> None:
    agent = ClassroomAgent(AgentConfig("http://127.0.0.1:9", "shc_x" * 4), fast_options())
    fake = FakeSession(question("choice", ["A", "B"]))
    agent.session = fake  # type: ignore[assignment]
    fake.question_deadline = time.time() + 30
    agent._session_changed()  # what the session's news calls
    assert overlay.seconds_left(agent.scene, time.time()) in (29, 30)
    fake.question_deadline = time.time() - 1
    agent.on_key("digit:1")
    agent._session_changed()
    assert overlay.seconds_left(agent.scene, time.time()) == 0
    assert overlay.question_card(agent.scene, (1280, 720)) is not None
    await asyncio.sleep(0)
    assert fake.sent == []
