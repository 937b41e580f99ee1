"""Classrooms' connection checks (`classroom-agent doctor` results)."""

from __future__ import annotations

from sqlalchemy import delete, select

from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import Classroom, ConnectionCheck

# Connection checks kept per classroom (older ones are deleted as new ones arrive).
CHECKS_KEPT = 20


class ConnectionCheckStore(CatalogBase):
    async def add_connection_check(
        self, classroom_id: int, credential_id: int | None, ok: bool, summary: str, report: str
    ) -> ConnectionCheck:
        """Store a doctor result; keep the last ``CHECKS_KEPT`` of the classroom."""
        async with self.session() as session, session.begin():
            row = ConnectionCheck(
                classroom_id=classroom_id,
                credential_id=credential_id,
                ok=ok,
                summary=summary,
                report=report,
            )
            session.add(row)
            await session.flush()
            old = (
                select(ConnectionCheck.id)
                .where(ConnectionCheck.classroom_id == classroom_id)
                .order_by(ConnectionCheck.id.desc())
                .offset(CHECKS_KEPT)
            )
            stale = list((await session.scalars(old)).all())
            if stale:
                await session.execute(delete(ConnectionCheck).where(ConnectionCheck.id.in_(stale)))
        return row

    async def connection_checks(self, classroom_id: int, limit: int) -> list[ConnectionCheck]:
        """The classroom's latest doctor results, newest first."""
        await self._get(Classroom, classroom_id)
        async with self.session() as session:
            query = (
                select(ConnectionCheck)
                .where(ConnectionCheck.classroom_id == classroom_id)
                .order_by(ConnectionCheck.id.desc())
                .limit(limit)
            )
            return list((await session.scalars(query)).all())
