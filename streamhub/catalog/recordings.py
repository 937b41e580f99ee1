"""Recordings of lessons: their state as the recorder writes and finalizes them, and the
library's search."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from streamhub.catalog.base import CatalogBase, Page
from streamhub.catalog.models import Lesson, Recording, lesson_invites, utcnow


class RecordingStore(CatalogBase):
    async def create_recording(self, lesson_id: int, directory: str) -> Recording:
        async with self.session() as session, session.begin():
            row = Recording(
                lesson_id=lesson_id,
                directory=directory,
                state="recording",
                failure_reason="",
                started_at=utcnow(),
                duration_s=0.0,
                size_bytes=0,
                progress=0.0,
                has_screen=False,
            )
            session.add(row)
        return await self.get_recording(row.id)

    async def get_recording(self, recording_id: int) -> Recording:
        return await self._get(Recording, recording_id)

    async def update_recording(self, recording_id: int, **changes: Any) -> Recording:
        await self._update(Recording, recording_id, changes)
        return await self.get_recording(recording_id)

    async def claim_recording(self, recording_id: int, holder: str, claimant: str) -> bool:
        """Make ``claimant`` the node of a recording still held by ``holder`` (compare and
        set: of several nodes adopting a dead node's recording, one wins)."""
        async with self.session() as session, session.begin():
            result = await session.execute(
                update(Recording)
                .where(Recording.id == recording_id, Recording.node_id == holder)
                .values(node_id=claimant)
            )
        return bool(getattr(result, "rowcount", 0))

    async def lesson_recordings(self, lesson_id: int) -> list[Recording]:
        """A lesson's recordings, oldest first (a hub restarted mid-lesson starts another)."""
        async with self.session() as session:
            query = select(Recording).where(Recording.lesson_id == lesson_id)
            return list((await session.scalars(query.order_by(Recording.id))).unique().all())

    async def recordings_in_state(self, *states: str) -> list[Recording]:
        async with self.session() as session:
            query = select(Recording).where(Recording.state.in_(states)).order_by(Recording.id)
            return list((await session.scalars(query)).unique().all())

    async def list_recordings(
        self,
        limit: int,
        offset: int,
        *,
        subject: str | None = None,
        lecturer: str | None = None,
        classroom_id: int | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        q: str | None = None,
        school_id: int | None = None,
        lecturer_account_id: int | None = None,
    ) -> Page[Recording]:
        query = select(Recording).join(Lesson).order_by(Recording.started_at.desc(), Recording.id)
        if school_id is not None:
            query = query.where(Lesson.school_id == school_id)
        if lecturer_account_id is not None:
            query = query.where(Lesson.lecturer_account_id == lecturer_account_id)
        if subject:
            query = query.where(func.lower(Lesson.subject) == subject.lower())
        if lecturer:
            query = query.where(func.lower(Lesson.lecturer_name) == lecturer.lower())
        if q:
            query = query.where(Lesson.title.ilike(f"%{q}%"))
        if classroom_id is not None:
            query = query.where(
                Lesson.id.in_(
                    select(lesson_invites.c.lesson_id).where(
                        lesson_invites.c.classroom_id == classroom_id
                    )
                )
            )
        if date_from is not None:
            query = query.where(Recording.started_at >= date_from)
        if date_to is not None:
            query = query.where(Recording.started_at < date_to)
        return await self._page(query, limit, offset)

    async def delete_recording(self, recording_id: int) -> Recording:
        row = await self.get_recording(recording_id)
        await self._delete(Recording, recording_id)
        return row
