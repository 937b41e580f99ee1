"""Recordings of lessons: their state as the recorder writes and finalizes them, and the
library's search."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, extract, func, or_, select, update

from streamhub.catalog import replay, search
from streamhub.catalog.base import CatalogBase, Page
from streamhub.catalog.models import Classroom, Lesson, Recording, lesson_invites, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LibraryFilter:
    """The library's filters beyond the first ones (all optional)."""

    subject_id: int | None = None
    grade_id: int | None = None
    lecturer_account_id: int | None = None
    school_id: int | None = None
    # ISO weekdays (1 Monday … 7 Sunday) of the recording's start in ``zone``.
    weekdays: frozenset[int] = field(default_factory=frozenset)
    zone: str = "UTC"


def _invited(classroom_id: int) -> Any:
    return select(lesson_invites.c.lesson_id).where(lesson_invites.c.classroom_id == classroom_id)


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
        row = await self._update(Recording, recording_id, changes)
        if changes.get("state") == "ready":
            # Its manifest's chapters are searchable from now on. The index is derived: a
            # failure here must not fail the recording (search-index rebuild mends it).
            try:
                await self.reindex_lesson_of(row.lesson_id)
            except Exception:
                logger.warning("recording %s: not indexed for search", recording_id, exc_info=True)
        return await self.get_recording(recording_id)

    async def reindex_lesson_of(self, lesson_id: int) -> None:
        async with self.session() as session, session.begin():
            await self._reindex(session, [lesson_id])

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
        library: LibraryFilter | None = None,
        sort: str = "newest",
    ) -> Page[Recording]:
        """Recordings, newest first (with ``q``: best match first; ``sort="rewatched"``: most
        watch time first, re-watches included, then most replays). ``school_id`` and
        ``lecturer_account_id`` scope the list to a caller (listing_scope); ``library`` holds
        the library's own filters."""
        query = select(Recording).join(Lesson)
        if school_id is not None:
            query = query.where(Lesson.school_id == school_id)
        if lecturer_account_id is not None:
            query = query.where(Lesson.lecturer_account_id == lecturer_account_id)
        if subject:
            query = query.where(func.lower(Lesson.subject) == subject.lower())
        if lecturer:
            query = query.where(func.lower(Lesson.lecturer_name) == lecturer.lower())
        if classroom_id is not None:
            query = query.where(Lesson.id.in_(_invited(classroom_id)))
        if date_from is not None:
            query = query.where(Recording.started_at >= date_from)
        if date_to is not None:
            query = query.where(Recording.started_at < date_to)
        if library is not None:
            query = self._library_filter(query, library)
        found = search.search_recordings(q, self.search_fts) if q else None
        if found is not None:
            for hits in found.joins:
                query = query.join(hits, hits.c.recording_id == Recording.id)
        if sort == "rewatched":
            # Replay data summed per recording (outer: one never watched is last, not gone).
            watched = replay.per_recording().subquery()
            query = query.outerjoin(watched, watched.c.recording_id == Recording.id).order_by(
                func.coalesce(watched.c.watch_s, 0.0).desc(),
                func.coalesce(watched.c.views, 0).desc(),
            )
        if found is not None:
            query = query.order_by(found.score.desc())
        query = query.order_by(Recording.started_at.desc(), Recording.id)
        return await self._page(query, limit, offset)

    def _library_filter(self, query: Any, f: LibraryFilter) -> Any:
        if f.subject_id is not None:
            query = query.where(Lesson.subject_id == f.subject_id)
        if f.grade_id is not None:
            query = query.where(Lesson.grade_id == f.grade_id)
        if f.lecturer_account_id is not None:
            query = query.where(Lesson.lecturer_account_id == f.lecturer_account_id)
        if f.school_id is not None:
            # The lesson's own school, or a school one of its invited classrooms belongs to.
            rooms = select(Classroom.id).where(Classroom.school_id == f.school_id)
            invited = select(lesson_invites.c.lesson_id).where(
                lesson_invites.c.classroom_id.in_(rooms)
            )
            query = query.where(or_(Lesson.school_id == f.school_id, Lesson.id.in_(invited)))
        if f.weekdays:
            query = query.where(self._weekday(f.zone).in_(sorted(f.weekdays)))
        return query

    def _weekday(self, zone: str) -> Any:
        """The ISO weekday of a recording's start in the county's time zone."""
        if self.engine.dialect.name == "postgresql":
            local = func.timezone(zone, Recording.started_at)
            return cast(extract("isodow", local), Integer)
        return func.local_isodow(Recording.started_at, zone)

    async def search_matches(
        self, recordings: Sequence[Recording], q: str
    ) -> dict[int, list[tuple[str, str, float | None]]]:
        """Why each of these recordings was found by ``q`` (the library shows it)."""
        async with self.session() as session:
            pairs = [(r.id, r.lesson_id) for r in recordings]
            return await search.matches_for(session, pairs, q, self.search_fts)

    async def delete_recording(self, recording_id: int) -> Recording:
        row = await self.get_recording(recording_id)
        await self._delete(Recording, recording_id)
        return row
