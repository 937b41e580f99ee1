"""What the room types on the agent's keyboard for the lecturer's question, before it is sent.

A classroom with only the agent PC answers as a room: an option's digit (the room's one agreed
answer), a number typed then Enter, or, after C, how many pupils chose each option (digits for
the option shown, Tab or the arrows to move between options, Enter to send). Pure: the agent
(agent.py) feeds it the projector's keys and sends what it returns; the card (overlay.py) shows
its state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamhub.protocol import MAX_NUMBER, MAX_ROOM_COUNT, QuestionInfo

# A number typed for a number question (a value is short; the card has room for this).
MAX_TYPED = 16


@dataclass(frozen=True)
class Send:
    """An answer to send: exactly one of the three."""

    option: int | None = None  # index into the question's options
    value: float | None = None
    counts: dict[str, int] | None = None


@dataclass
class AnswerPad:
    question: int | None = None  # the question's id the keys are typed for
    typed: str = ""
    counting: bool = False
    counts: list[str] = field(default_factory=list)
    at: int = 0

    def follow(self, question: QuestionInfo | None) -> None:
        """A new question (or none) starts from nothing typed."""
        number = question.id if question is not None else None
        if number != self.question:
            self.question, self.typed, self.counting, self.counts, self.at = (
                number,
                "",
                False,
                [],
                0,
            )

    def press(self, action: str, question: QuestionInfo) -> tuple[bool, Send | None]:
        """One key for an open question: whether the pad took it, and what to send if anything
        (a key not taken keeps its usual meaning: Enter reads the news)."""
        self.follow(question)
        if question.kind == "number":
            return self._number(action)
        if action == "counts":
            self.counting = not self.counting
            self.counts, self.at = [""] * len(question.options), 0
            return True, None
        if not self.counting:
            if action.startswith("digit:") and action[6:].isdigit() and action[6:] != "0":
                return True, Send(option=int(action[6:]) - 1)
            return action.startswith("digit:"), None
        return self._count(action, question)

    def _number(self, action: str) -> tuple[bool, Send | None]:
        if action.startswith("digit:"):
            self.typed = (self.typed + action[6:])[:MAX_TYPED]
            return True, None
        if action == "backspace":
            self.typed = self.typed[:-1]
            return True, None
        if action == "read" and self.typed:
            typed, self.typed = self.typed, ""
            try:
                value = float(typed)
            except ValueError:
                return True, None
            # What the hub would refuse is not sent (NaN and infinities are above the bound too).
            return True, (Send(value=value) if abs(value) <= MAX_NUMBER else None)
        return False, None

    def _count(self, action: str, question: QuestionInfo) -> tuple[bool, Send | None]:
        n = len(self.counts)
        if action.startswith("digit:"):
            digit = action[6:]
            typed = (self.counts[self.at] + digit).lstrip("0") or "0"
            if digit.isdigit() and int(typed) <= MAX_ROOM_COUNT:
                self.counts[self.at] = typed
            return True, None
        if action == "backspace":
            self.counts[self.at] = self.counts[self.at][:-1]
        elif action == "next":
            self.at = (self.at + 1) % n
        elif action == "prev":
            self.at = (self.at - 1) % n
        elif action == "read":
            counts = {
                option: int(typed)
                for option, typed in zip(question.options, self.counts, strict=True)
                if typed and int(typed) > 0
            }
            if not counts:  # the hub takes no answer of all zeros
                return True, None
            self.counting = False
            return True, Send(counts=counts)
        else:
            return False, None
        return True, None

    def shown(self) -> dict[str, object]:
        """For the projector's card."""
        return {
            "typed": self.typed,
            "counting": self.counting,
            "counts": self.counts,
            "at": self.at,
        }
