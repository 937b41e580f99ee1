"""Classrooms answer back, in the room with fake members: quick replies, questions answered per
classroom, marks; who is told what, what is kept with the lesson, and what is refused (nothing
kept then)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streamhub.auth.tokens import TokenIssuer
from streamhub.config import load_settings
from streamhub.errors import ErrorCode, NotFound, StreamhubError
from streamhub.lesson.ports import LessonEvent
from streamhub.lesson.questions import GRACE_S
from streamhub.lesson.registry import LessonRegistry
from streamhub.lesson.room import Room
from streamhub.protocol import (
    AnswerQuestion,
    Marked,
    OpenQuestion,
    QuestionAnswers,
    QuestionClosed,
    QuestionOpened,
    QuestionRevealed,
    QuickReplied,
    ReplyCleared,
)
from tests.lesson.test_room_units import LESSON, Member, classroom, lecturer, recorder


@pytest.fixture
def room() -> tuple[Room, list[LessonEvent]]:
    kept: list[LessonEvent] = []
    room = Room(LESSON)
    room.keep = kept.append
    return room, kept


def _members(room: Room) -> tuple[Member, Member, Member, Member]:
    lec, a, b, rec = lecturer(), classroom(7), classroom(8), recorder()
    for m in (lec, a, b, rec):
        room.add(m.p)
        m.forget()
    return lec, a, b, rec


def test_a_quick_reply_reaches_the_lecturer_and_its_classroom_only_and_is_counted(
    room: tuple[Room, list[LessonEvent]],
) -> None:
    r, kept = room
    lec, a, b, rec = _members(r)
    r.quick_reply(a.p, "cant_hear")
    r.quick_reply(a.p, "slower")
    told = lec.of(QuickReplied)
    assert [(m.participant, m.kind, m.count) for m in told] == [
        ("cls-7", "cant_hear", 1),
        ("cls-7", "slower", 2),
    ]
    assert len(rec.of(QuickReplied)) == 2 and len(a.of(QuickReplied)) == 2
    assert b.of(QuickReplied) == []
    assert [(e.kind, e.classroom_id, e.data["reply"]) for e in kept] == [
        ("quick_reply", 7, "cant_hear"),
        ("quick_reply", 7, "slower"),
    ]
    r.clear_reply(a.p, "cant_hear")
    assert r.replies["cls-7"].keys() == {"slower"}
    r.clear_reply(a.p, None)
    assert r.replies["cls-7"] == {}
    assert [m.kind for m in lec.of(ReplyCleared)] == ["cant_hear", None]
    assert len(a.of(ReplyCleared)) == 2 and b.of(ReplyCleared) == []
    assert r.reply_counts["classroom:7"] == 2  # acknowledging keeps the count


def test_a_question_is_answered_per_classroom_with_counts_or_one_answer(
    room: tuple[Room, list[LessonEvent]],
) -> None:
    r, kept = room
    lec, a, b, rec = _members(r)
    q = r.open_question(lec.p, OpenQuestion(text="2+2?", options=4))
    for m in (lec, a, b, rec):
        assert [x.question.options for x in m.of(QuestionOpened)] == [["A", "B", "C", "D"]]
    r.answer_question(a.p, AnswerQuestion(question=q.id, counts={"A": 12, "B": 25, "C": 3}))
    r.answer_question(b.p, AnswerQuestion(question=q.id, choice="B"))
    last = lec.of(QuestionAnswers)[-1]
    assert last.totals == {"A": 12, "B": 26, "C": 3, "D": 0}
    assert {x.participant: (x.counts, x.choice) for x in last.answers} == {
        "cls-7": ({"A": 12, "B": 25, "C": 3}, None),
        "cls-8": ({}, "B"),
    }
    # A classroom is sent its own answer back, never the others'.
    assert [x.participant for m in a.of(QuestionAnswers) for x in m.answers] == ["cls-7"]
    assert [x.participant for m in b.of(QuestionAnswers) for x in m.answers] == ["cls-8"]
    r.reveal_question(lec.p, q.id, "B")
    r.close_question(lec.p, q.id)
    for m in (lec, a, b):
        assert [x.correct for x in m.of(QuestionRevealed)] == ["B"]
        assert [x.question for x in m.of(QuestionClosed)] == [q.id]
    assert [e.kind for e in kept] == ["question", "answer", "answer", "reveal", "close"]
    assert kept[1].data["counts"] == {"A": 12, "B": 25, "C": 3}
    assert kept[-1].data["totals"] == {"A": 12, "B": 26, "C": 3, "D": 0}


@pytest.mark.parametrize(
    ("opened", "answer", "code"),
    [
        (OpenQuestion(options=3), AnswerQuestion(question=1, counts={"D": 4}), "invalid_message"),
        (OpenQuestion(options=2), AnswerQuestion(question=1, choice="C"), "invalid_message"),
        (OpenQuestion(), AnswerQuestion(question=1, value=3), "invalid_message"),
        (OpenQuestion(kind="number"), AnswerQuestion(question=1, choice="A"), "invalid_message"),
        (
            OpenQuestion(kind="true_false"),
            AnswerQuestion(question=1, counts={"A": 1}),
            "invalid_message",
        ),
        (OpenQuestion(), AnswerQuestion(question=2, choice="A"), "not_found"),
    ],
)
def test_an_answer_that_does_not_fit_is_refused_and_not_kept(
    room: tuple[Room, list[LessonEvent]], opened: OpenQuestion, answer: AnswerQuestion, code: str
) -> None:
    r, kept = room
    lec, a, _, _ = _members(r)
    r.open_question(lec.p, opened)
    kept.clear()
    with pytest.raises(StreamhubError) as caught:
        r.answer_question(a.p, answer)
    assert caught.value.code == code
    assert kept == [] and lec.of(QuestionAnswers) == []


def test_twice_closed_late_and_unknown(room: tuple[Room, list[LessonEvent]]) -> None:
    r, kept = room
    lec, a, b, _ = _members(r)
    with pytest.raises(NotFound):
        r.answer_question(a.p, AnswerQuestion(question=1, choice="A"))
    q = r.open_question(lec.p, OpenQuestion(time_limit_s=30))
    r.answer_question(a.p, AnswerQuestion(question=q.id, choice="A"))
    with pytest.raises(StreamhubError) as twice:
        r.answer_question(a.p, AnswerQuestion(question=q.id, choice="B"))
    assert twice.value.code == ErrorCode.ALREADY_ANSWERED
    # Past the time limit (and its grace): closed for answers.
    assert q.info.closes_at is not None
    q.info = q.info.model_copy(update={"closes_at": q.info.closes_at - 30 - GRACE_S - 1})
    with pytest.raises(StreamhubError) as late:
        r.answer_question(b.p, AnswerQuestion(question=q.id, choice="A"))
    assert late.value.code == ErrorCode.QUESTION_CLOSED
    # A new question closes the open one; answers to the old one are refused.
    q2 = r.open_question(lec.p, OpenQuestion(kind="number", allow_change=True))
    assert [x.question for x in lec.of(QuestionClosed)] == [q.id]
    with pytest.raises(StreamhubError) as old:
        r.answer_question(b.p, AnswerQuestion(question=q.id, choice="A"))
    assert old.value.code == ErrorCode.NOT_FOUND
    r.answer_question(b.p, AnswerQuestion(question=q2.id, value=4))
    r.answer_question(b.p, AnswerQuestion(question=q2.id, value=5))  # changes allowed
    assert [x.value for x in lec.of(QuestionAnswers)[-1].answers] == [5]
    r.close_question(lec.p, q2.id)
    with pytest.raises(StreamhubError) as closed:
        r.answer_question(a.p, AnswerQuestion(question=q2.id, value=1))
    assert closed.value.code == ErrorCode.QUESTION_CLOSED
    assert [e.kind for e in kept].count("answer") == 3


def test_reveal_checks_the_correct_answer(room: tuple[Room, list[LessonEvent]]) -> None:
    r, _ = room
    lec, *_ = _members(r)
    q = r.open_question(lec.p, OpenQuestion(options=2))
    with pytest.raises(StreamhubError):
        r.reveal_question(lec.p, q.id, "C")
    q2 = r.open_question(lec.p, OpenQuestion(kind="number"))
    with pytest.raises(StreamhubError):
        r.reveal_question(lec.p, q2.id, "four")
    r.reveal_question(lec.p, q2.id, "4.0")
    assert lec.of(QuestionRevealed)[-1].correct == "4"


def test_no_answer_once_the_correct_one_is_shown(room: tuple[Room, list[LessonEvent]]) -> None:
    r, kept = room
    lec, a, b, _ = _members(r)
    q = r.open_question(lec.p, OpenQuestion(options=2, allow_change=True))
    r.answer_question(a.p, AnswerQuestion(question=q.id, choice="A"))
    r.reveal_question(lec.p, q.id, "B")
    for member, choice in ((b, "B"), (a, "B")):  # a late one, a change to the shown answer
        with pytest.raises(StreamhubError) as copied:
            r.answer_question(member.p, AnswerQuestion(question=q.id, choice=choice))
        assert copied.value.code == ErrorCode.QUESTION_CLOSED
    assert [e.kind for e in kept].count("answer") == 1
    assert q.totals() == {"A": 1, "B": 0}


def test_a_classroom_joining_late_is_shown_the_open_question(
    room: tuple[Room, list[LessonEvent]],
) -> None:
    r, _ = room
    lec, *_ = _members(r)
    assert r.open_question_info is None
    q = r.open_question(lec.p, OpenQuestion(text="Which?", kind="true_false"))
    assert r.open_question_info == q.info
    assert q.info.options == ["true", "false"]
    r.close_question(lec.p, q.id)
    assert r.open_question_info is None


def test_hands_and_marks_are_kept(room: tuple[Room, list[LessonEvent]]) -> None:
    r, kept = room
    lec, a, _, _ = _members(r)
    r.raise_hand(a.p)
    r.raise_hand(a.p)  # already up: kept once
    assert r.mark(lec.p, "  ") == "Mark 1"
    assert r.mark(lec.p, "Experiment") == "Experiment"
    assert [m.label for m in lec.of(Marked)] == ["Mark 1", "Experiment"]
    assert a.of(Marked) == []
    assert [(e.kind, e.data.get("label")) for e in kept] == [
        ("hand", None),
        ("mark", "Mark 1"),
        ("mark", "Experiment"),
    ]


def test_the_kept_events_read_back_as_export_counts_and_chapters(
    room: tuple[Room, list[LessonEvent]],
) -> None:
    from recorder.finalize import _with_lesson_chapters
    from streamhub.lesson.answers_record import (
        chapters,
        classroom_counts,
        csv_rows,
        lesson_record,
    )

    r, kept = room
    lec, a, b, _ = _members(r)
    q = r.open_question(lec.p, OpenQuestion(text="2+2?", options=3))
    r.answer_question(a.p, AnswerQuestion(question=q.id, counts={"A": 3, "C": 1}))
    r.answer_question(b.p, AnswerQuestion(question=q.id, choice="C"))
    r.reveal_question(lec.p, q.id, "C")
    r.quick_reply(a.p, "help")
    r.raise_hand(b.p)
    r.mark(lec.p, "Part two")
    record = lesson_record(kept)
    [question] = record.questions
    assert (question.correct, question.totals) == ("C", {"A": 3, "B": 0, "C": 2})
    counts = classroom_counts(record)
    assert (counts[7].answers, counts[7].quick_replies, counts[8].hands) == (1, 1, 1)
    rows = csv_rows(record)
    assert [row["kind"] for row in rows] == [
        "question",
        "answer",
        "answer",
        "quick_reply",
        "hand",
        "mark",
    ]
    assert rows[1]["answer"] == "A=3 C=1" and rows[2]["answer"] == "C"
    found = chapters(record)
    assert [(c.kind, c.title) for c in found] == [
        ("question", "Question 1: 2+2?"),
        ("mark", "Part two"),
    ]
    # On the recording's timeline: seconds from its start; before it or after it, left out.
    start = found[0].at.timestamp() - 10
    merged = _with_lesson_chapters(
        [{"start_s": 0.0, "title": "Lesson"}, {"start_s": 60.0, "title": "Screen share"}],
        [(c.at.timestamp(), c.title, c.kind) for c in found] + [(start - 5, "early", "mark")],
        start,
        3600.0,
    )
    assert [c["title"] for c in merged] == [
        "Lesson",
        "Question 1: 2+2?",
        "Part two",
        "Screen share",
    ]
    assert merged[1]["kind"] == "question" and 9.9 <= merged[1]["start_s"] <= 10.1


def test_a_classroom_that_rejoined_has_answered_and_is_caught_up(
    room: tuple[Room, list[LessonEvent]],
) -> None:
    r, _ = room
    lec, a, b, _ = _members(r)
    q = r.open_question(lec.p, OpenQuestion())
    r.answer_question(a.p, AnswerQuestion(question=q.id, choice="A"))
    r.quick_reply(a.p, "slower")
    r.remove(a.p, "dropped")
    again = classroom(7, "cls-7-again")
    r.add(again.p)
    r.quick_reply(again.p, "done")  # the room's second reply of the lesson
    assert [m.count for m in lec.of(QuickReplied)] == [1, 2]
    r.catch_up(again.p)
    [mine] = again.of(QuestionAnswers)
    assert [x.choice for x in mine.answers] == ["A"] and mine.totals == {}
    with pytest.raises(StreamhubError) as twice:
        r.answer_question(again.p, AnswerQuestion(question=q.id, choice="B"))
    assert twice.value.code == ErrorCode.ALREADY_ANSWERED
    # A lecturer who rejoins sees the answers so far; a classroom that has not answered, none.
    lec2 = lecturer("lec-2")
    r.catch_up(lec2.p)
    assert lec2.of(QuestionAnswers)[0].totals["A"] == 1
    b.forget()
    r.catch_up(b.p)
    assert b.of(QuestionAnswers) == []


async def test_a_timed_question_closes_itself(room: tuple[Room, list[LessonEvent]]) -> None:
    r, kept = room
    lec, a, _, _ = _members(r)
    q = r.open_question(lec.p, OpenQuestion(time_limit_s=600))
    timer = r._question_timer
    assert timer is not None and 600 < timer.when() - asyncio.get_running_loop().time() <= 602
    r.time_up(q.id)  # what the timer calls when it fires
    assert timer.cancelled()
    assert [m.question for m in a.of(QuestionClosed)] == [q.id]
    assert kept[-1].kind == "close" and kept[-1].data["time_up"] is True
    r.time_up(q.id)  # once only
    assert len(a.of(QuestionClosed)) == 1
    # Closed by the lecturer first: the timer is cancelled, nothing closes twice.
    q2 = r.open_question(lec.p, OpenQuestion(time_limit_s=600))
    timer2 = r._question_timer
    r.close_question(lec.p, q2.id)
    assert timer2 is not None and timer2.cancelled()


def test_a_timed_question_is_sent_with_the_seconds_left(
    room: tuple[Room, list[LessonEvent]],
) -> None:
    """Projectors count down from the seconds left, on their own clock (theirs may be off)."""
    r, _ = room
    lec, a, _, _ = _members(r)
    q = r.open_question(lec.p, OpenQuestion(time_limit_s=30))
    assert [m.question.time_left_s for m in a.of(QuestionOpened)] == [30]
    assert q.info.closes_at is not None
    q.info = q.info.model_copy(update={"closes_at": q.info.closes_at - 10})  # 10 s went by
    joining = r.open_question_info
    assert joining is not None and joining.time_left_s is not None
    assert 19 < joining.time_left_s <= 20
    q.info = q.info.model_copy(update={"closes_at": q.info.closes_at - 60})
    late = r.open_question_info
    assert late is not None and late.time_left_s == 0
    r.open_question(lec.p, OpenQuestion())
    untimed = r.open_question_info
    assert untimed is not None and untimed.time_left_s is None


class NumberedCatalog:
    """The catalog's numbering of a lesson a hub held before it restarted."""

    def __init__(self, numbering: tuple[int, int] | None) -> None:
        self.numbering = numbering

    async def lesson_numbering(self, lesson_id: int) -> tuple[int, int]:
        if self.numbering is None:
            raise OSError("catalog down")
        return self.numbering

    async def add_lesson_events(self, events: object) -> None:
        pass


@pytest.mark.parametrize(
    ("numbering", "question", "mark"), [((3, 1), 4, "Mark 2"), (None, 1, "Mark 1")]
)
async def test_a_room_made_again_mid_lesson_numbers_on(
    tmp_path: Path, numbering: tuple[int, int] | None, question: int, mark: str
) -> None:
    settings = load_settings(None, data_dir=tmp_path, jwt_secret="s" * 32, admin_key="k" * 32)
    registry = LessonRegistry(settings, NumberedCatalog(numbering), TokenIssuer("s" * 32, 60))  # type: ignore[arg-type]
    r = await registry.start_lesson(LESSON)
    lec = lecturer()
    r.add(lec.p)
    assert r.open_question(lec.p, OpenQuestion()).info.number == question
    assert r.mark(lec.p, "") == mark
    await registry.events_written()


def test_the_export_keeps_the_pages_numbers_and_runs_no_formula(
    room: tuple[Room, list[LessonEvent]],
) -> None:
    """A question's number in the export is the one the pages showed (a room made again
    mid-lesson numbers on; one of an older hub started again from 1); a text cell that a
    spreadsheet would run as a formula is written as text."""
    from streamhub.lesson.answers_record import csv_rows, lesson_record

    r, kept = room
    lec, a, *_ = _members(r)
    r.questions_asked = 3  # what a room made again after three questions starts from
    q = r.open_question(lec.p, OpenQuestion(text='=HYPERLINK("http://x")', kind="number"))
    r.answer_question(a.p, AnswerQuestion(question=q.id, value=-5))
    r.mark(lec.p, "@SUM(A1)")
    older = LessonEvent(1, "question", kept[0].at, "lec-1", question=1, data={"text": "again"})
    record = lesson_record([*kept, older])
    assert [q.number for q in record.questions] == [4, 5]
    rows = csv_rows(record)
    assert [(row["kind"], row["question"]) for row in rows][:2] == [
        ("question", 4),
        ("question", 5),
    ]
    by_kind = {row["kind"]: row for row in rows}
    assert rows[0]["detail"].startswith("'=HYPERLINK")
    assert by_kind["mark"]["detail"] == "'@SUM(A1)"
    assert by_kind["answer"]["answer"] == "-5"  # a number stays a number
