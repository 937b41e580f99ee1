"""The library's search index as the catalog keeps it: lessons reindexed as they change, and a
full rebuild (``streamhub search-index rebuild``). The sources and the query: search.py."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from streamhub.catalog import search
from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import Lesson

# Lessons per transaction in a rebuild: a county's years of lessons in bounded steps.
REBUILD_STEP = 2000


class SearchStore(CatalogBase):
    async def reindex_lessons(self, lesson_ids: Sequence[int]) -> None:
        async with self.session() as session, session.begin():
            await self._reindex(session, lesson_ids)

    async def rebuild_search_index(self) -> int:
        """Every lesson's entries afresh (and, on PostgreSQL, the trigram index if it can be
        had now); how many lessons."""
        if self.engine.dialect.name == "postgresql":
            async with self.session() as session, session.begin():
                await search.ensure_postgres_trigram(session)
        async with self.session() as session:
            ids = list((await session.scalars(select(Lesson.id).order_by(Lesson.id))).all())
        for at in range(0, len(ids), REBUILD_STEP):
            await self.reindex_lessons(ids[at : at + REBUILD_STEP])
        if self.engine.dialect.name == "postgresql":
            # Fresh statistics: on a table just refilled, the planner's guesses made a
            # two-term query over 20,000 lessons take seconds instead of a fifth of one.
            async with self.engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE search_entries, lessons, recordings")
        return len(ids)
