"""A lesson's kept events go into the catalog and come back the same, on SQLite and on
PostgreSQL (times aware, JSON bodies, Chinese names), in the order they happened; a room made
again for the lesson numbers its questions and marks on from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamhub.catalog.store import Catalog
from streamhub.config import load_settings
from streamhub.lesson.ports import LessonEvent
from tests.support.postgres import database, database_url, postgres_server

__all__ = ["database", "database_url", "postgres_server"]  # the fixtures this module uses


async def test_lesson_events_round_trip(tmp_path: Path, database_url: str | None) -> None:
    catalog = await Catalog.open(load_settings(None, data_dir=tmp_path, database_url=database_url))
    try:
        lesson = await catalog.create_lesson(
            title="Fractions",
            subject="Maths",
            lecturer_name="Ms Li",
            scheduled_start=datetime(2026, 11, 24, 8, tzinfo=UTC),
            scheduled_end=datetime(2026, 11, 24, 9, tzinfo=UTC),
            classroom_ids=[],
        )
        at = datetime(2026, 11, 24, 8, 5, tzinfo=UTC)
        events = [
            LessonEvent(lesson.id, "answer", at + timedelta(seconds=2), "cls-1", None, "一班", 1,
                        {"counts": {"A": 12, "B": 25}, "choice": None, "value": None}),
            LessonEvent(lesson.id, "question", at, "lec-1", None, "Ms Li", 1,
                        {"text": "哪个大？", "options": ["A", "B"]}),
        ]  # fmt: skip
        await catalog.add_lesson_events(events)
        await catalog.add_lesson_events([])
        back = await catalog.lesson_events(lesson.id)
        assert back == [events[1], events[0]]
        assert await catalog.lesson_events(lesson.id + 1) == []
        assert await catalog.lesson_numbering(lesson.id) == (1, 0)
        await catalog.add_lesson_events(
            [
                LessonEvent(lesson.id, "question", at + timedelta(minutes=1), "lec-1", question=2),
                LessonEvent(lesson.id, "mark", at + timedelta(minutes=2), "lec-1"),
            ]
        )
        assert await catalog.lesson_numbering(lesson.id) == (2, 1)
        assert await catalog.lesson_numbering(lesson.id + 1) == (0, 0)
    finally:
        await catalog.close()
