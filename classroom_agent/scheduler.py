"""The classroom's timetable: which lesson is live, which is next, and saying so once."""

from __future__ import annotations

import logging

from classroom_agent.hub_api import LessonInfo

logger = logging.getLogger(__name__)


def live_lesson(lessons: list[LessonInfo], skip: set[int]) -> LessonInfo | None:
    return next((x for x in lessons if x.live and x.id not in skip), None)


def next_lesson(lessons: list[LessonInfo]) -> LessonInfo | None:
    upcoming = [x for x in lessons if x.status == "scheduled"]
    return min(upcoming, key=lambda x: x.scheduled_start, default=None)


class Announcer:
    """Logs "next lesson: <title> at <time>" when the answer changes, not on every poll."""

    def __init__(self) -> None:
        self.last: str | None = None

    def announce(self, lesson: LessonInfo | None) -> str:
        text = (
            f"next lesson: {lesson.title} at {lesson.scheduled_start.isoformat()}"
            if lesson is not None
            else "no upcoming lesson"
        )
        if text != self.last:
            logger.info("%s", text)
            self.last = text
        return text
