"""A lesson's kept events (quick replies, hands, questions and answers, marks) read back: the
per-lesson export, each classroom's counts for the register, and the recording's chapters.

Pure functions over ``LessonEvent``s (the catalog's lesson_events, in time order)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamhub.csv_export import cell
from streamhub.lesson.ports import LessonEvent


@dataclass
class QuestionRecord:
    number: int
    text: str
    kind: str
    options: list[str]
    opened_at: datetime
    time_limit_s: int | None = None
    correct: str | None = None
    closed_at: datetime | None = None
    # Each classroom's last answer (a changed answer replaces the earlier one).
    answers: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)


@dataclass
class LessonRecord:
    questions: list[QuestionRecord] = field(default_factory=list)
    quick_replies: list[dict[str, Any]] = field(default_factory=list)
    hands: list[dict[str, Any]] = field(default_factory=list)
    marks: list[dict[str, Any]] = field(default_factory=list)


def _who(event: LessonEvent) -> dict[str, Any]:
    return {
        "participant_id": event.participant_id,
        "classroom_id": event.classroom_id,
        "name": event.name,
        "at": event.at,
    }


def _room(answer: dict[str, Any]) -> object:
    """Who answered: the classroom, whichever session it answered from."""
    classroom = answer["classroom_id"]
    return classroom if classroom is not None else answer["participant_id"]


def _list(value: object) -> list[str]:
    return [str(x) for x in value] if isinstance(value, list) else []


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int)}


def lesson_record(events: list[LessonEvent]) -> LessonRecord:
    """The events grouped: questions with their answers, then replies, hands and marks. A
    question's answers are those after it opened and before the next one with its number (a hub
    of an earlier version, restarted mid-lesson, numbered its questions from 1 again)."""
    record = LessonRecord()
    open_by_number: dict[int, QuestionRecord] = {}
    for event in events:
        data = event.data
        if event.kind == "question" and event.question is not None:
            # The number the pages showed (a hub restarted mid-lesson numbers on from the kept
            # events); one kept before that fix may repeat an earlier number: then the next.
            last = record.questions[-1].number if record.questions else 0
            question = QuestionRecord(
                number=max(event.question, last + 1),
                text=str(data.get("text", "")),
                kind=str(data.get("question_kind", "choice")),
                options=_list(data.get("options")),
                opened_at=event.at,
                time_limit_s=limit if isinstance(limit := data.get("time_limit_s"), int) else None,
            )
            record.questions.append(question)
            open_by_number[event.question] = question
        elif event.kind in ("answer", "reveal", "close") and event.question in open_by_number:
            question = open_by_number[event.question]
            if event.kind == "answer":
                question.answers = [a for a in question.answers if _room(a) != _room(_who(event))]
                question.answers.append(
                    {
                        **_who(event),
                        "counts": _counts(data.get("counts")),
                        "choice": data.get("choice"),
                        "value": data.get("value"),
                    }
                )
            elif event.kind == "reveal":
                question.correct = str(data.get("correct"))
            else:
                question.closed_at = event.at
        elif event.kind == "quick_reply":
            record.quick_replies.append({**_who(event), "reply": data.get("reply")})
        elif event.kind == "hand":
            record.hands.append(_who(event))
        elif event.kind == "mark":
            record.marks.append({"label": data.get("label", ""), "at": event.at})
    for question in record.questions:
        question.totals = totals(question)
    return record


def totals(question: QuestionRecord) -> dict[str, int]:
    """Pupils per option, plus one per classroom's agreed answer (as the lecturer saw them)."""
    result = dict.fromkeys(question.options, 0)
    for answer in question.answers:
        for option, count in answer["counts"].items():
            result[option] = result.get(option, 0) + int(count)
        if answer["choice"] is not None:
            result[answer["choice"]] = result.get(answer["choice"], 0) + 1
    return result


@dataclass(frozen=True)
class ClassroomCounts:
    answers: int = 0
    quick_replies: int = 0
    hands: int = 0


def classroom_counts(record: LessonRecord) -> dict[int, ClassroomCounts]:
    """Per classroom: questions it answered, quick replies it sent, hands it raised."""
    answered: Counter[int] = Counter()
    for question in record.questions:
        for answer in question.answers:
            if answer["classroom_id"] is not None:
                answered[answer["classroom_id"]] += 1
    replies = Counter(r["classroom_id"] for r in record.quick_replies if r["classroom_id"])
    hands = Counter(h["classroom_id"] for h in record.hands if h["classroom_id"])
    return {
        cid: ClassroomCounts(answered[cid], replies[cid], hands[cid])
        for cid in set(answered) | set(replies) | set(hands)
    }


@dataclass(frozen=True)
class Chapter:
    at: datetime
    title: str
    kind: str  # question | mark


def chapters(record: LessonRecord) -> list[Chapter]:
    """The recording's chapters: each question ("Question 3: …") and each mark, in time order."""
    found = [
        Chapter(q.opened_at, f"Question {q.number}: {q.text}" if q.text else f"Question {q.number}",
                "question")
        for q in record.questions
    ]  # fmt: skip
    found += [Chapter(m["at"], str(m["label"]), "mark") for m in record.marks]
    return sorted(found, key=lambda c: c.at)


CSV_FIELDS = ("at", "kind", "question", "classroom_id", "name", "answer", "detail")


def csv_rows(record: LessonRecord) -> list[dict[str, Any]]:
    """One row per question, answer, quick reply, hand and mark, in time order."""
    rows: list[dict[str, Any]] = []
    for q in record.questions:
        detail = f"{q.text} [{q.kind}: {' '.join(q.options)}]".strip()
        if q.correct is not None:
            detail += f" correct={q.correct}"
        rows.append({"at": q.opened_at, "kind": "question", "question": q.number,
                     "detail": detail})  # fmt: skip
        for a in q.answers:
            if a["value"] is not None:
                answer = f"{a['value']:g}"
            elif a["choice"] is not None:
                answer = str(a["choice"])
            else:
                answer = " ".join(f"{k}={v}" for k, v in a["counts"].items())
            rows.append({"at": a["at"], "kind": "answer", "question": q.number,
                         "classroom_id": a["classroom_id"], "name": a["name"],
                         "answer": answer, "detail": "agreed" if a["choice"] else ""})  # fmt: skip
    for r in record.quick_replies:
        rows.append({"at": r["at"], "kind": "quick_reply", "classroom_id": r["classroom_id"],
                     "name": r["name"], "answer": r["reply"]})  # fmt: skip
    for h in record.hands:
        rows.append({"at": h["at"], "kind": "hand", "classroom_id": h["classroom_id"],
                     "name": h["name"]})  # fmt: skip
    for m in record.marks:
        rows.append({"at": m["at"], "kind": "mark", "detail": m["label"]})
    rows.sort(key=lambda row: row["at"])
    return [
        {k: cell(row.get(k)) for k in CSV_FIELDS}
        for row in rows
    ]  # fmt: skip
