"""Per-kind signaling limits, a lesson's chat budget, decaying strikes, and control messages
ahead of chat in a slow member's outbox (issue 13, item 8), against a real in-process hub."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from streamhub.client import signaling_url
from streamhub.protocol import ChatMessage, StageChanged
from streamhub.signaling.limits import Outbox
from tests.support.hub import AdminApi, HubFactory, InProcessHub, LessonSetup

LESSON_CHAT_BURST = 7


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(
        recorder={"enabled": False},
        signaling={
            "joins_per_minute": 1000,
            "peer_timeout_s": 120,  # these members never negotiate media
            "chat_per_second": 0.5,
            "chat_burst": 5,
            "control_per_second": 10,
            "control_burst": 30,
            "lesson_chat_per_second": 0.5,
            "lesson_chat_burst": LESSON_CHAT_BURST,
            "strike_limit": 8,
            "strike_decay_per_second": 8.0,
        },
    )


class Member:
    """A raw signaling client: requests with ids, and every message kept."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.n = 0

    @classmethod
    async def join(cls, hub: InProcessHub, token: str, **kw: Any) -> Member:
        member = cls(await websockets.connect(signaling_url(hub.url), **kw))
        assert (await member.request({"type": "join", "token": token}))["type"] == "joined"
        return member

    async def send(self, message: dict[str, Any]) -> str:
        self.n += 1
        request_id = f"r{self.n}"
        await self.ws.send(json.dumps({**message, "id": request_id}))
        return request_id

    async def reply(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            while True:
                message = json.loads(await self.ws.recv())
                self.seen.append(message)
                if message.get("id") == request_id:
                    return message  # type: ignore[no-any-return]

        return await asyncio.wait_for(find(), timeout)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        return await self.reply(await self.send(message))

    async def burst(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send all, then collect every reply."""
        ids = [await self.send(m) for m in messages]
        return [await self.reply(i) for i in ids]


async def lesson(hub: InProcessHub, classrooms: int) -> tuple[LessonSetup, list[str]]:
    api = AdminApi(hub.url)
    setup = await api.lesson(classrooms=classrooms)
    tokens = [await api.device_token(c) for c in setup.credentials]
    await api.close()
    return setup, tokens


def codes(replies: list[dict[str, Any]]) -> list[str]:
    return [r["type"] if r["type"] != "error" else r["code"] for r in replies]


async def test_chat_is_limited_far_below_control_messages(hub: InProcessHub) -> None:
    _, (token,) = await lesson(hub, 1)
    member = await Member.join(hub, token)
    chats = codes(await member.burst([{"type": "chat", "text": "hi"}] * 12))
    assert chats[:5] == ["ack"] * 5 and set(chats[5:]) == {"rate_limited"}, chats
    # The same burst of control messages all goes through, right after the refused chat.
    hands = [{"type": "raise_hand"}, {"type": "lower_hand"}] * 6
    assert codes(await member.burst(hands)) == ["ack"] * 12
    await member.ws.close()


async def test_a_lesson_has_a_chat_budget_of_its_own(hub: InProcessHub) -> None:
    _, tokens = await lesson(hub, 2)
    a, b = [await Member.join(hub, t) for t in tokens]
    replies = codes(await a.burst([{"type": "chat", "text": "a"}] * 4))
    replies += codes(await b.burst([{"type": "chat", "text": "b"}] * 4))
    # Each within its own limit (5), together over the lesson's (7).
    assert replies.count("ack") == LESSON_CHAT_BURST, replies
    assert replies.count("rate_limited") == 8 - LESSON_CHAT_BURST
    for member in (a, b):
        await member.ws.close()


async def test_strikes_decay_and_a_flood_still_closes(hub: InProcessHub) -> None:
    _, (token,) = await lesson(hub, 1)
    member = await Member.join(hub, token)
    # Bursts that each overshoot a little, paced like a person: strikes never pile up
    # (without decay, the 3rd burst passes the limit of 8).
    for _ in range(4):
        got = codes(
            await member.burst([{"type": "raise_hand"}] + [{"type": "chat", "text": "x"}] * 6)
        )
        assert got[0] == "ack" and "rate_limited" in got, got
        await asyncio.sleep(1.0)  # client pacing: the strikes decay meanwhile
    # A sustained flood is closed.
    with pytest.raises(websockets.ConnectionClosed):
        for _ in range(200):
            await member.send({"type": "chat", "text": "flood"})
            await asyncio.sleep(0)
        while True:
            await asyncio.wait_for(member.ws.recv(), 10)
    assert member.ws.close_code == 4429


async def test_a_slow_member_keeps_its_control_messages_and_its_connection(
    hub: InProcessHub,
) -> None:
    """A member that stops reading while chat floods the lesson loses old chat lines, not the
    stage change, and is not disconnected."""
    hub.settings.signaling.lesson_chat_burst = 100_000
    hub.settings.signaling.lesson_chat_per_second = 100_000
    setup, (token,) = await lesson(hub, 1)
    lecturer = await Member.join(hub, setup.lecturer_token, max_queue=None)
    slow = await Member.join(hub, token, max_queue=1)  # reads nothing until told to
    room = hub.services.lessons.rooms[setup.lesson_id]
    me = next(p for p in room.members.values() if p.classroom_id is not None)
    text = "x" * 1900
    sender = next(p for p in room.members.values() if p.classroom_id is None)
    for _ in range(6000):  # ~11 MB of chat towards the slow member: more than any buffer
        room.chat(sender, text)
        await asyncio.sleep(0)
    assert (await lecturer.request({"type": "stage_on", "participant": me.id}))["type"] == "ack"
    kinds: list[str] = []

    async def read_until_stage() -> None:
        while True:
            message = json.loads(await slow.ws.recv())
            kinds.append(message["type"])
            if message["type"] == StageChanged.model_fields["type"].default:
                return

    await asyncio.wait_for(read_until_stage(), 60)
    chat = ChatMessage.model_fields["type"].default
    assert kinds.count(chat) < 6000  # old lines were dropped for it...
    assert me.id in room.members  # ...and it is still in the lesson
    for member in (lecturer, slow):
        await member.ws.close()


async def test_the_outbox_puts_control_ahead_of_chat_and_drops_old_chat() -> None:
    outbox = Outbox(control_size=3, bulk_size=2)
    chat = ChatMessage(sender="p", sender_name="P", text="t", at=0.0)
    stage = StageChanged(participant=None)
    for n in range(4):
        assert outbox.put(f"chat{n}", chat)
    assert outbox.put("stage", stage)
    assert [await outbox.get() for _ in range(3)] == ["stage", "chat2", "chat3"]
    assert outbox.dropped == 2
    for n in range(3):
        assert outbox.put(f"c{n}", stage)
    assert not outbox.put("c3", stage)  # the control lane is full: the member cannot keep up
