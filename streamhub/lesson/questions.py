"""The lecturer's questions answered per classroom (答题): what an answer may be, and the totals.

Pure logic, no I/O: the room (streamhub.lesson.room) holds the open question and tells the
members; this module says whether an answer fits its question and sums the answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from streamhub.errors import ErrorCode, ProtocolError
from streamhub.protocol import (
    CHOICE_LETTERS,
    TRUE_FALSE,
    AnswerQuestion,
    OpenQuestion,
    QuestionInfo,
    RoomAnswer,
)

# Answers still on their way when the time limit passes are taken (a projector's countdown and
# the hub's clock differ by a network trip).
GRACE_S = 2.0


class BadAnswer(ProtocolError):
    """An answer that does not fit its question (an option it does not have, a number for a
    choice question)."""

    code = ErrorCode.INVALID_MESSAGE


class QuestionClosed(ProtocolError):
    code = ErrorCode.QUESTION_CLOSED


class AlreadyAnswered(ProtocolError):
    code = ErrorCode.ALREADY_ANSWERED


def options_for(message: OpenQuestion) -> list[str]:
    if message.kind == "choice":
        return list(CHOICE_LETTERS[: message.options])
    if message.kind == "true_false":
        return list(TRUE_FALSE)
    return []


@dataclass
class LiveQuestion:
    """The question open (or last closed) in a room, and each classroom's answer (by the room
    that gave it: ``streamhub.lesson.room``'s answerer key)."""

    info: QuestionInfo
    answers: dict[str, RoomAnswer] = field(default_factory=dict)

    @classmethod
    def open(cls, number: int, message: OpenQuestion, now: float | None = None) -> LiveQuestion:
        at = time.time() if now is None else now
        limit = message.time_limit_s
        return cls(
            QuestionInfo(
                id=number,
                number=number,
                text=message.text.strip(),
                kind=message.kind,
                options=options_for(message),
                opened_at=at,
                closes_at=at + limit if limit is not None else None,
                time_left_s=limit,
                allow_change=message.allow_change,
            )
        )

    @property
    def id(self) -> int:
        return self.info.id

    def shown(self, now: float) -> QuestionInfo:
        """The question as sent now: with the seconds left of its time limit."""
        closes = self.info.closes_at
        if closes is None:
            return self.info
        return self.info.model_copy(update={"time_left_s": max(0.0, closes - now)})

    def accepts_answers(self, now: float) -> bool:
        closes = self.info.closes_at
        return not self.info.closed and (closes is None or now <= closes + GRACE_S)

    def check(self, answer: AnswerQuestion, answerer: str, now: float) -> None:
        """Raise unless this classroom may give this answer now."""
        if not self.accepts_answers(now):
            raise QuestionClosed(f"question {self.id} is closed")
        if self.info.correct is not None:
            # Every projector shows the correct answer: an answer now would only copy it.
            raise QuestionClosed(f"question {self.id} is answered: its answer is shown")
        if answerer in self.answers and not self.info.allow_change:
            raise AlreadyAnswered(f"question {self.id} is answered already")
        options = self.info.options
        if self.info.kind == "number":
            if answer.value is None:
                raise BadAnswer("a number question is answered with a value")
            return
        if answer.value is not None:
            raise BadAnswer(f"a {self.info.kind} question is answered with counts or a choice")
        if answer.choice is not None and answer.choice not in options:
            raise BadAnswer(f"no option {answer.choice[:5]!r}; options are {', '.join(options)}")
        unknown = sorted(set(answer.counts or {}) - set(options))
        if unknown:
            raise BadAnswer(f"no option {unknown[0]!r}; options are {', '.join(options)}")

    def totals(self) -> dict[str, int]:
        """Pupils per option (counts) plus one per classroom that gave one agreed answer."""
        result = dict.fromkeys(self.info.options, 0)
        for answer in self.answers.values():
            for option, count in answer.counts.items():
                result[option] = result.get(option, 0) + count
            if answer.choice is not None:
                result[answer.choice] = result.get(answer.choice, 0) + 1
        return result

    def check_correct(self, correct: str) -> str:
        """The correct answer as every projector will show it (a number written plainly)."""
        if self.info.kind == "number":
            try:
                value = float(correct)
            except ValueError:
                raise BadAnswer("the correct answer of a number question is a number") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise BadAnswer("the correct answer of a number question is a number")
            return f"{value:g}"
        if correct not in self.info.options:
            options = ", ".join(self.info.options)
            raise BadAnswer(f"no option {correct[:5]!r}; options are {options}")
        return correct
