"""The projector's keys for the lecturer's question, without a hub: a choice question takes the
option's digit, a number question the digits typed (shown on the projector) and Enter; the
news still clears with Enter when nothing is typed. A fake session stands in for the hub's."""

from __future__ import annotations

from typing import Any

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
