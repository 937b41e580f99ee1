"""The signaling WebSocket against the real hub: events, controls, and every bad input's error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from streamhub.auth.tokens import TokenIssuer
from streamhub.client import signaling_url
from streamhub.protocol import CLOSE_CODES, ErrorCode, Role
from tests.support.hub import JWT_SECRET, AdminApi, HubFactory, InProcessHub, LessonSetup


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(recorder={"enabled": False}, signaling={"max_message_bytes": 4096})


@pytest.fixture
async def lesson(hub: InProcessHub) -> AsyncIterator[LessonSetup]:
    api = AdminApi(hub.url)
    setup = await api.lesson(classrooms=2)
    setup.credentials = [await api.device_token(c) for c in setup.credentials]  # tokens now
    await api.close()
    yield setup


class Peer:
    """A raw signaling client that records every message it gets."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def expect(self, kind: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            while True:
                message = json.loads(await self.ws.recv())
                self.seen.append(message)
                if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                    return message

        return await asyncio.wait_for(find(), timeout)


async def connect(hub: InProcessHub, token: str | None = None, **headers: str) -> Peer:
    ws = await websockets.connect(signaling_url(hub.url), additional_headers=headers or None)
    peer = Peer(ws)
    if token is not None:
        await peer.send({"type": "join", "id": "join", "token": token})
        await peer.expect("joined")
    return peer


async def test_join_events_hands_chat_and_stage(hub: InProcessHub, lesson: LessonSetup) -> None:
    lecturer = await connect(hub, lesson.lecturer_token)
    first = await connect(hub, lesson.credentials[0])
    joined = await lecturer.expect("participant_joined")
    classroom_id = joined["participant"]["id"]
    assert joined["participant"]["role"] == "classroom"

    await first.send({"type": "raise_hand", "id": "h1"})
    await first.expect("ack", id="h1")
    raised = await lecturer.expect("hand_raised")
    assert raised["participant"] == classroom_id and raised["hands"] == [classroom_id]

    second = await connect(hub, lesson.credentials[1])
    second_joined = await lecturer.expect("participant_joined")
    await second.send({"type": "raise_hand"})
    hands = await lecturer.expect("hand_raised", participant=second_joined["participant"]["id"])
    assert hands["hands"] == [classroom_id, second_joined["participant"]["id"]]  # in order

    await lecturer.send({"type": "lower_hand", "participant": classroom_id})
    lowered = await second.expect("hand_lowered")
    assert lowered["hands"] == [second_joined["participant"]["id"]]

    # The hub sets the sender; a body cannot claim to be someone else.
    await first.send({"type": "chat", "text": "hello"})
    chat = await lecturer.expect("chat")
    assert (chat["sender"], chat["text"]) == (classroom_id, "hello")
    await first.send({"type": "chat", "text": "x", "sender": "lecturer"})
    error = await first.expect("error")
    assert error["code"] == "invalid_message"

    await lecturer.send({"type": "stage_on", "id": "s1", "participant": classroom_id})
    await lecturer.expect("ack", id="s1")
    assert (await second.expect("stage_changed"))["participant"] == classroom_id
    await lecturer.send({"type": "stage_off"})
    assert (await second.expect("stage_changed"))["participant"] is None

    # Only the lecturer controls the stage and mutes.
    await first.send({"type": "stage_on", "id": "bad", "participant": classroom_id})
    assert (await first.expect("error", id="bad"))["code"] == "forbidden"
    await lecturer.send({"type": "mute_request", "participant": classroom_id})
    assert (await first.expect("mute_requested"))["muted"] is True

    await first.send({"type": "leave", "id": "bye"})
    left = await lecturer.expect("participant_left")
    assert left["participant"] == classroom_id
    for peer in (lecturer, first, second):
        await peer.ws.close()


async def test_bad_messages_get_typed_errors_and_the_connection_stays_usable(
    hub: InProcessHub, lesson: LessonSetup
) -> None:
    lecturer = await connect(hub, lesson.lecturer_token)
    classroom = await connect(hub, lesson.credentials[0])
    cases: list[tuple[str | bytes, str]] = [
        ("{not json", "bad_json"),
        ('{"type": "teleport", "id": "t"}', "unknown_type"),
        ('{"type": "chat"}', "invalid_message"),
        ("[1, 2]", "invalid_message"),
        ('{"type": "chat", "text": "a", "type": "stage_off"}', "duplicate_key"),
        (json.dumps({"type": "chat", "text": "x" * 5000}), "too_large"),
        # A second join on a joined socket.
        ('{"type": "join", "token": "abcdefghijklmnop"}', "already_joined"),
    ]
    for raw, code in cases:
        await classroom.send(raw)
        assert (await classroom.expect("error"))["code"] == code
    # Still usable, and the others were never disturbed.
    await classroom.send({"type": "raise_hand", "id": "ok"})
    await classroom.expect("ack", id="ok")
    await lecturer.expect("hand_raised")
    for peer in (lecturer, classroom):
        await peer.ws.close()


async def test_joins_that_must_fail(hub: InProcessHub, lesson: LessonSetup) -> None:
    issuer = TokenIssuer(JWT_SECRET, 600)
    api = AdminApi(hub.url)
    other_lesson = (await api.lesson(classrooms=0, start=False)).lecturer_token  # not live
    staff = (await api.post("/api/tokens/staff"))["token"]
    await api.close()
    unbound = issuer.issue(sub="lecturer:x", role=Role.LECTURER, lesson=lesson.lesson_id)
    cases = [
        ({"type": "raise_hand", "id": "early"}, "not_joined", False),
        # A client of another protocol version is told so (it may join again with v 1).
        ({"type": "join", "v": 2, "token": lesson.lecturer_token}, "unsupported_version", False),
        ({"type": "join", "token": "x" * 40}, "token_invalid", True),
        (
            {"type": "join", "token": lesson.lecturer_token, "lesson": lesson.lesson_id + 1},
            "wrong_lesson",
            True,
        ),
        ({"type": "join", "token": other_lesson}, "lesson_not_live", True),
        # Signed by the hub, but bound to no lesson row or link: refused.
        ({"type": "join", "token": unbound}, "token_invalid", True),
        ({"type": "join", "token": staff}, "forbidden", True),
        (
            {"type": "join", "token": lesson.lecturer_token, "codecs": ["AV1"]},
            "no_usable_codec",
            True,
        ),
    ]
    lecturer = await connect(hub, lesson.lecturer_token)
    for message, code, closes in cases:
        peer = await connect(hub)
        await peer.send(message)
        assert (await peer.expect("error"))["code"] == code
        if closes:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(peer.ws.recv(), 5)
            assert peer.ws.close_code == CLOSE_CODES[ErrorCode(code)] >= 4000
        await peer.ws.close()
    # The live lesson was never disturbed.
    classroom = await connect(hub, lesson.credentials[0])
    await lecturer.expect("participant_joined")
    await classroom.ws.close()
    await lecturer.ws.close()


async def test_websocket_from_a_foreign_origin_is_refused(
    hub: InProcessHub, lesson: LessonSetup
) -> None:
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(
            signaling_url(hub.url), additional_headers={"Origin": "https://evil.example"}
        )
    allowed = await websockets.connect(
        signaling_url(hub.url), additional_headers={"Origin": hub.url}
    )
    await allowed.close()


async def test_join_flood_from_one_identity_is_rate_limited(
    hub: InProcessHub, lesson: LessonSetup
) -> None:
    limit = hub.settings.signaling.joins_per_minute
    codes = []
    for _ in range(limit + 3):
        peer = await connect(hub)
        await peer.send({"type": "join", "token": lesson.credentials[1]})
        reply = json.loads(await asyncio.wait_for(peer.ws.recv(), 5))
        codes.append(reply.get("code", reply["type"]))
        await peer.ws.close()
    assert "rate_limited" in codes[limit - 1 :]
    assert codes[0] == "joined"
