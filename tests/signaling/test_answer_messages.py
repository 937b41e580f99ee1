"""The messages of classrooms answering back: every hub message survives the wire (dump, then
the client's parser), and bad client messages are typed errors before any handler runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamhub.protocol import (
    AnswerQuestion,
    ClearReply,
    CloseQuestion,
    Joined,
    Mark,
    Marked,
    Message,
    MessageError,
    OpenQuestion,
    ParticipantInfo,
    QuestionAnswers,
    QuestionClosed,
    QuestionInfo,
    QuestionOpened,
    QuestionRevealed,
    QuickReplied,
    QuickReply,
    ReplyCleared,
    RevealQuestion,
    Role,
    RoomAnswer,
    dump,
    parse_client_message,
    parse_server_message,
)

INFO = QuestionInfo(
    id=3,
    number=3,
    text="Which is larger? 哪个大？",
    kind="choice",
    options=["A", "B", "C"],
    opened_at=1700000000.5,
    closes_at=1700000030.5,
)
SERVER: list[Message] = [
    QuickReplied(participant="cls-1", kind="cant_hear", at=1.5, count=2),
    ReplyCleared(participant="cls-1", kind=None),
    QuestionOpened(question=INFO),
    QuestionAnswers(
        question=3,
        answers=[
            RoomAnswer(participant="cls-1", name="1班", counts={"A": 12, "B": 25}, at=2.0),
            RoomAnswer(participant="cls-2", name="2班", choice="C", at=3.0),
        ],
        totals={"A": 12, "B": 25, "C": 1},
    ),
    QuestionRevealed(question=3, correct="B"),
    QuestionClosed(question=3),
    Marked(label="Experiment", at=4.0),
]
CLIENT: list[Message] = [
    QuickReply(kind="slower", id="r1"),
    ClearReply(participant="cls-1", kind="help"),
    OpenQuestion(text="?", kind="true_false", time_limit_s=30, allow_change=True),
    AnswerQuestion(question=3, counts={"A": 0, "B": 25}),
    AnswerQuestion(question=3, choice="true"),
    AnswerQuestion(question=3, value=-2.5),
    RevealQuestion(question=3, correct="12.5"),
    CloseQuestion(question=3),
    Mark(label="Part two"),
]


@pytest.mark.parametrize("message", SERVER, ids=lambda m: type(m).__name__)
def test_hub_messages_round_trip(message: Message) -> None:
    assert parse_server_message(dump(message)) == message


@pytest.mark.parametrize("message", CLIENT, ids=lambda m: type(m).__name__)
def test_client_messages_round_trip(message: Message) -> None:
    assert parse_client_message(message.model_dump_json()) == message


def test_joined_carries_the_open_question() -> None:
    me = ParticipantInfo(id="cls-1", role=Role.CLASSROOM, name="1班")
    joined = Joined(
        participant=me,
        lesson_id=1,
        lesson_title="t",
        participants=[me],
        hands=[],
        stage=None,
        screen_sharing=False,
        ice_servers=[],
        video_codec="VP8",
        layout=[],
        question=INFO,
        reply_clear_s=45,
    )
    assert parse_server_message(dump(joined)) == joined


BAD = [
    {"type": "quick_reply", "kind": "bored"},
    {"type": "quick_reply"},
    {"type": "clear_reply", "participant": "x y"},
    {"type": "open_question", "options": 1},
    {"type": "open_question", "options": 7},
    {"type": "open_question", "kind": "essay"},
    {"type": "open_question", "time_limit_s": 0},
    {"type": "open_question", "text": "x" * 501},
    {"type": "answer_question", "question": 1},
    {"type": "answer_question", "question": 0, "choice": "A"},
    {"type": "answer_question", "question": 1, "counts": {"A": -1}},
    {"type": "answer_question", "question": 1, "counts": {"A": 10_001}},
    {"type": "answer_question", "question": 1, "counts": {"A": 0, "B": 0}},
    {"type": "answer_question", "question": 1, "counts": {"A": 1.5}},
    {"type": "answer_question", "question": 1, "choice": "A", "value": 1},
    {"type": "answer_question", "question": 1, "value": "NaN"},
    # A classroom answers for itself: there is no field to name another.
    {"type": "answer_question", "question": 1, "choice": "A", "participant": "cls-2"},
    {"type": "answer_question", "question": 1, "choice": "A", "classroom_id": 2},
    {"type": "reveal_question", "question": 1},
    {"type": "close_question"},
    {"type": "mark", "label": "x" * 121},
]


@pytest.mark.parametrize("data", BAD, ids=lambda d: json.dumps(d)[:60])
def test_bad_messages_are_typed_errors(data: dict[str, Any]) -> None:
    with pytest.raises(MessageError) as caught:
        parse_client_message(json.dumps({**data, "id": "q"}))
    assert caught.value.code == "invalid_message"
    assert caught.value.request_id == "q"


@settings(max_examples=150, deadline=None)
@given(
    counts=st.dictionaries(
        st.text(max_size=6), st.integers(-(10**6), 10**6) | st.floats(), max_size=8
    )
)
def test_any_counts_parse_within_limits_or_fail_typed(counts: dict[str, Any]) -> None:
    raw = json.dumps({"type": "answer_question", "question": 1, "counts": counts})
    try:
        message = parse_client_message(raw)
    except MessageError as exc:
        assert exc.code == "invalid_message"
        return
    assert message.counts is not None and 0 < len(message.counts) <= 6
    assert all(0 <= n <= 10_000 for n in message.counts.values()) and any(message.counts.values())
