"""What every part of the catalog shares: the engine, its sessions and the generic row
helpers (``streamhub.catalog.store.Catalog`` puts the parts together)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from streamhub.catalog import search
from streamhub.catalog.models import DeviceCredential, IssuedToken, utcnow
from streamhub.errors import NotFound

T = TypeVar("T")
M = TypeVar("M")
R = TypeVar("R", DeviceCredential, IssuedToken)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class CatalogBase:
    def __init__(self, engine: AsyncEngine, attendance_stale_s: float = 15.0) -> None:
        self.engine = engine
        self.session = async_sessionmaker(engine, expire_on_commit=False)
        # An open attendance row not marked seen for this long belongs to a session that a
        # crash ended (its node marks it every ``attendance_seen_every_s``).
        self.attendance_stale_s = attendance_stale_s
        # Where recordings' files are (the search reads their chapters), and whether this
        # SQLite catalog has the FTS5 trigram index (Catalog.open finds out).
        self.recordings_dir: Path | None = None
        self.search_fts = False

    def search_context(self) -> search.Context:
        return search.Context(self.recordings_dir)

    async def _reindex(self, session: AsyncSession, lesson_ids: Sequence[int]) -> None:
        """In the caller's transaction: the search index changes with what it indexes."""
        await search.reindex(session, lesson_ids, self.search_context())

    async def _get(self, model: type[M], ident: int) -> M:
        async with self.session() as session:
            row = await session.get(model, ident)
        if row is None:
            raise NotFound(f"no {model.__name__.lower()} with id {ident}")
        return row

    async def _page(self, query: Any, limit: int, offset: int) -> Page[Any]:
        async with self.session() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (await session.scalars(query.limit(limit).offset(offset))).unique().all()
        return Page(list(rows), int(total or 0))

    async def _update(self, model: type[M], ident: int, changes: dict[str, Any]) -> M:
        async with self.session() as session, session.begin():
            row = await session.get(model, ident)
            if row is None:
                raise NotFound(f"no {model.__name__.lower()} with id {ident}")
            for key, value in changes.items():
                setattr(row, key, value)
        return row

    async def _revoke(self, model: type[R], ident: int, noun: str) -> R:
        """Set ``revoked_at`` once (revoking twice keeps the first time)."""
        async with self.session() as session, session.begin():
            row = await session.get(model, ident)
            if row is None:
                raise NotFound(f"no {noun} with id {ident}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
        return row

    async def _delete(self, model: type[Any], ident: int) -> None:
        async with self.session() as session, session.begin():
            row = await session.get(model, ident)
            if row is None:
                raise NotFound(f"no {model.__name__.lower()} with id {ident}")
            await session.delete(row)
