"""What a lesson's classrooms and lecturer did, kept with the lesson (quick replies, hands,
questions and answers, marks): written in batches by the node holding the lesson."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import func, select

from streamhub.catalog import search
from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import LessonEventRow
from streamhub.lesson.ports import LessonEvent


class LessonEventStore(CatalogBase):
    async def add_lesson_events(self, events: Sequence[LessonEvent]) -> None:
        if not events:
            return
        async with self.session() as session, session.begin():
            session.add_all(
                LessonEventRow(
                    lesson_id=e.lesson_id,
                    at=e.at,
                    kind=e.kind,
                    participant_id=e.participant_id,
                    classroom_id=e.classroom_id,
                    name=e.name[:120],
                    question=e.question,
                    data=json.dumps(e.data, ensure_ascii=False),
                )
                for e in events
            )
            # Marks and questions are searchable (catalog/search.py): their lessons are
            # reindexed with the batch that brings them.
            searchable = {e.lesson_id for e in events if e.kind in search.EVENT_CHAPTERS}
            if searchable:
                await session.flush()
                await self._reindex(session, sorted(searchable))

    async def lesson_events(self, lesson_id: int) -> list[LessonEvent]:
        """The lesson's events in the order they happened."""
        async with self.session() as session:
            query = (
                select(LessonEventRow)
                .where(LessonEventRow.lesson_id == lesson_id)
                .order_by(LessonEventRow.at, LessonEventRow.id)
            )
            rows = (await session.scalars(query)).all()
        return [
            LessonEvent(
                lesson_id=row.lesson_id,
                kind=row.kind,
                at=row.at,
                participant_id=row.participant_id,
                classroom_id=row.classroom_id,
                name=row.name,
                question=row.question,
                data=json.loads(row.data or "{}"),
            )
            for row in rows
        ]

    async def lesson_numbering(self, lesson_id: int) -> tuple[int, int]:
        """The last question number and how many marks the lesson's events hold: a room made
        again for the lesson (a hub restarted mid-lesson) numbers on from them."""
        async with self.session() as session:
            last_question = await session.scalar(
                select(func.max(LessonEventRow.question)).where(
                    LessonEventRow.lesson_id == lesson_id, LessonEventRow.kind == "question"
                )
            )
            marks = await session.scalar(
                select(func.count(LessonEventRow.id)).where(
                    LessonEventRow.lesson_id == lesson_id, LessonEventRow.kind == "mark"
                )
            )
        return int(last_question or 0), int(marks or 0)
