"""Classrooms answer back, end to end with real parts: a hub, the lecturer as a WebSocket and
aiortc client, a classroom agent answering by its keys, a second classroom answering with its
room's counts; who may send what; then the lesson's export read back through the API."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from typing import Any

import pytest

from classroom_agent.agent import ClassroomAgent
from classroom_agent.config import AgentConfig
from streamhub.client import ClientError, LessonClient
from streamhub.client.synthetic import PatternVideoTrack
from streamhub.protocol import (
    AnswerQuestion,
    ClearReply,
    CloseQuestion,
    Mark,
    OpenQuestion,
    QuestionAnswers,
    QuestionRevealed,
    QuickReplied,
    RevealQuestion,
    Slot,
)
from tests.agent.conftest import fast_options
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually


def collect(client: LessonClient) -> tuple[list[Any], asyncio.Task[None]]:
    seen: list[Any] = []

    async def read() -> None:
        async for event in client.events():
            seen.append(event)

    return seen, asyncio.create_task(read())


async def refused(client: LessonClient, message: Any) -> str:
    with pytest.raises(ClientError) as caught:
        await client.request(message)
    return str(caught.value.code)


async def test_classrooms_answer_and_the_lesson_keeps_it(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=2)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    await lecturer.connect({Slot.CAMERA: PatternVideoTrack(160, 120)})
    heard, reading = collect(lecturer)
    other = LessonClient(hub.url, await admin.device_token(lesson.credentials[1], lesson.code))
    await other.connect()
    other_heard, other_reading = collect(other)
    agent = ClassroomAgent(AgentConfig(hub.url, lesson.credentials[0]), fast_options())
    task = asyncio.create_task(agent.join_lesson(lesson.code))
    try:
        session = await eventually(lambda: agent.session and agent.session.participant_id, 20)
        session = agent.session
        assert session is not None

        # Only the lecturer asks; only classrooms answer, each for itself.
        assert await refused(other, OpenQuestion()) == "forbidden"
        assert await refused(other, Mark()) == "forbidden"
        opened = OpenQuestion(text="Which is a prime?", options=4, time_limit_s=600)
        await lecturer.request(opened)
        assert await refused(lecturer, AnswerQuestion(question=1, choice="A")) == "forbidden"
        assert await refused(other, AnswerQuestion(question=9, choice="A")) == "not_found"
        assert await refused(other, AnswerQuestion(question=1, choice="E")) == "invalid_message"

        # The agent's room answers B by its key "2"; the other room gives its counts.
        await eventually(lambda: session.question is not None and session.question.id == 1, 10)
        agent.on_key("digit:2")
        await other.request(AnswerQuestion(question=1, counts={"A": 12, "B": 25, "C": 3}))
        assert await refused(other, AnswerQuestion(question=1, choice="B")) == "already_answered"

        def bars() -> dict[str, int] | None:
            answers = [m for m in heard if isinstance(m, QuestionAnswers)]
            return answers[-1].totals if answers and len(answers[-1].answers) == 2 else None

        assert await eventually(bars, 10) == {"A": 12, "B": 26, "C": 3, "D": 0}

        # A quick reply by the agent's key reaches the lecturer, who acknowledges it.
        agent.on_key("reply:cant_hear")
        reply = await eventually(lambda: [m for m in heard if isinstance(m, QuickReplied)], 10)
        assert (reply[0].participant, reply[0].kind, reply[0].count) == (
            session.participant_id,
            "cant_hear",
            1,
        )
        await lecturer.request(ClearReply(participant=session.participant_id))

        await lecturer.request(RevealQuestion(question=1, correct="B"))
        await eventually(lambda: any(isinstance(m, QuestionRevealed) for m in other_heard), 10)
        await eventually(lambda: session.question is not None and session.question.correct, 10)
        await lecturer.request(CloseQuestion(question=1))
        await lecturer.request(Mark(label="Experiment"))
        assert await refused(other, AnswerQuestion(question=1, counts={"A": 1})) in (
            "question_closed",
            "already_answered",
        )

        # A room with only the agent PC answers with its counts, by keys: C, then a count per
        # option (Tab moves on), Enter. It counts down from the seconds left the hub sent.
        await lecturer.request(OpenQuestion(text="Odd or even?", options=3, time_limit_s=600))
        await eventually(lambda: session.question is not None and session.question.id == 2, 10)
        assert session.question_deadline is not None
        assert 590 < session.question_deadline - time.time() <= 600
        for key in ("counts", "digit:7", "next", "digit:1", "digit:5", "read"):
            agent.on_key(key)

        def counted() -> dict[str, int] | None:
            answers = [m for m in heard if isinstance(m, QuestionAnswers) and m.question == 2]
            return answers[-1].totals if answers else None

        assert await eventually(counted, 10) == {"A": 7, "B": 15, "C": 0}
    finally:
        agent.stop()
        await asyncio.wait_for(task, 20)
        await other.close()
        await lecturer.close()
        reading.cancel()
        other_reading.cancel()

    await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
    await hub.services.lessons.events_written()
    exported = (await admin.http.get(f"/api/lessons/{lesson.lesson_id}/answers")).json()
    question, counted_by_keys = exported["questions"]
    assert counted_by_keys["number"] == 2
    assert [a["counts"] for a in counted_by_keys["answers"]] == [{"A": 7, "B": 15}]
    assert (question["text"], question["correct"], question["totals"]["B"]) == (
        "Which is a prime?",
        "B",
        26,
    )
    by_room = {a["classroom_id"]: a for a in question["answers"]}
    assert by_room[lesson.classroom_ids[0]]["choice"] == "B"
    assert by_room[lesson.classroom_ids[1]]["counts"] == {"A": 12, "B": 25, "C": 3}
    assert [r["reply"] for r in exported["quick_replies"]] == ["cant_hear"]
    assert [m["label"] for m in exported["marks"]] == ["Experiment"]

    response = await admin.http.get(
        f"/api/lessons/{lesson.lesson_id}/answers", params={"format": "csv"}
    )
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    answers = {r["classroom_id"]: r for r in rows if r["kind"] == "answer" and r["question"] == "1"}
    assert answers[str(lesson.classroom_ids[0])]["answer"] == "B"
    assert answers[str(lesson.classroom_ids[1])]["answer"] == "A=12 B=25 C=3"
    assert all(r["at"] for r in answers.values())
    assert [r["kind"] for r in rows].count("quick_reply") == 1

    register = (
        await admin.http.get(f"/api/lessons/{lesson.lesson_id}/attendance/classrooms")
    ).json()
    said = {line["classroom_id"]: (line["answers"], line["quick_replies"]) for line in register}
    assert said == {lesson.classroom_ids[0]: (2, 1), lesson.classroom_ids[1]: (1, 0)}
