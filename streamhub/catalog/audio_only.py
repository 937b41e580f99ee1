"""Time in audio only: one row per stretch a session received sound only, written by the node
that holds the session as the stretch begins and ends."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import Attendance, AudioOnlyInterval


class AudioOnlyStore(CatalogBase):
    async def audio_only_began(self, attendance_id: int, at: datetime) -> int:
        row = AudioOnlyInterval(attendance_id=attendance_id, started_at=at)
        async with self.session() as session, session.begin():
            session.add(row)
        return row.id

    async def audio_only_ended(self, interval_id: int, at: datetime) -> None:
        async with self.session() as session, session.begin():
            row = await session.get(AudioOnlyInterval, interval_id)
            if row is not None and row.ended_at is None:
                row.ended_at = max(at, row.started_at)

    async def audio_only(self, lesson_id: int) -> list[AudioOnlyInterval]:
        """The lesson's stretches in audio only, of every session (an open one's end is its
        session's: ``streamhub.lesson.attendance.register`` clips it)."""
        async with self.session() as session:
            query = (
                select(AudioOnlyInterval)
                .join(Attendance, Attendance.id == AudioOnlyInterval.attendance_id)
                .where(Attendance.lesson_id == lesson_id)
                .order_by(AudioOnlyInterval.started_at, AudioOnlyInterval.id)
            )
            return list((await session.scalars(query)).all())
