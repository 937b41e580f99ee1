"""Attendance: one row per session in a lesson, kept alive by its node's beats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import Attendance, DeviceCredential, Lesson, utcnow
from streamhub.protocol import Role

# Beats an attendance row may miss before its session counts as ended by a crash.
ATTENDANCE_MISSED_BEATS = 3


class AttendanceStore(CatalogBase):
    async def attendance_joined(
        self,
        lesson_id: int,
        participant_id: str,
        role: Role,
        name: str,
        classroom_id: int | None,
        credential_id: int | None = None,
    ) -> int:
        now = utcnow()
        row = Attendance(
            lesson_id=lesson_id,
            participant_id=participant_id,
            role=role.value,
            name=name,
            classroom_id=classroom_id,
            credential_id=credential_id,
            joined_at=now,
            last_seen_at=now,
        )
        async with self.session() as session, session.begin():
            session.add(row)
        return row.id

    async def attendance_left(
        self, attendance_id: int, quality: float | None, at: datetime | None = None
    ) -> None:
        async with self.session() as session, session.begin():
            row = await session.get(Attendance, attendance_id)
            if row is not None and row.left_at is None:
                # A session that outlived its credential's revocation ended at the revocation.
                revoked = await self._revocations(session, [row])
                row.left_at = _closing_time(row, at or utcnow(), float("inf"), revoked)
                row.quality = quality

    async def attendance(self, lesson_id: int) -> list[Attendance]:
        await self._get(Lesson, lesson_id)
        async with self.session() as session:
            query = (
                select(Attendance)
                .where(Attendance.lesson_id == lesson_id)
                .order_by(Attendance.joined_at, Attendance.id)
            )
            return list((await session.scalars(query)).all())

    async def close_open_attendance(self, lesson_id: int) -> None:
        """Lesson end closes the rows of everyone still listed: at once for a session seen
        alive lately, at the last time it was seen for one a crash ended, and at the
        revocation for a classroom whose credential was revoked."""
        now = utcnow()
        async with self.session() as session, session.begin():
            query = select(Attendance).where(
                Attendance.lesson_id == lesson_id, Attendance.left_at.is_(None)
            )
            rows = (await session.scalars(query)).all()
            revoked = await self._revocations(session, rows)
            for row in rows:
                row.left_at = _closing_time(row, now, self.attendance_stale_s, revoked)

    async def attendance_seen(self, attendance_ids: Sequence[int]) -> None:
        """The sessions of these rows are alive now. A row that a sweep closed at its last
        sight (its node could not write for a while) is open again."""
        if not attendance_ids:
            return
        now = utcnow()
        async with self.session() as session, session.begin():
            query = select(Attendance).where(Attendance.id.in_(list(attendance_ids)))
            for row in (await session.scalars(query)).all():
                if row.left_at is not None and row.left_at != row.last_seen_at:
                    continue  # left for good
                row.left_at = None
                row.last_seen_at = now

    async def close_orphaned_attendance(self) -> int:
        """Close the open rows whose session has not been seen for ``attendance_stale_s`` (its
        node crashed or lost the catalog) at the last time it was seen; returns how many."""
        now = utcnow()
        stale_after_s = self.attendance_stale_s
        cutoff = now - timedelta(seconds=stale_after_s)
        async with self.session() as session, session.begin():
            query = select(Attendance).where(
                Attendance.left_at.is_(None),
                Attendance.last_seen_at.is_not(None),
                Attendance.last_seen_at < cutoff,
            )
            rows = (await session.scalars(query)).all()
            revoked = await self._revocations(session, rows)
            for row in rows:
                row.left_at = _closing_time(row, now, stale_after_s, revoked)
        return len(rows)

    @staticmethod
    async def _revocations(
        session: AsyncSession, rows: Sequence[Attendance]
    ) -> dict[int, datetime]:
        ids = {r.credential_id for r in rows if r.credential_id is not None}
        if not ids:
            return {}
        query = select(DeviceCredential).where(
            DeviceCredential.id.in_(ids), DeviceCredential.revoked_at.is_not(None)
        )
        return {c.id: c.revoked_at for c in (await session.scalars(query)).all() if c.revoked_at}


def _closing_time(
    row: Attendance, now: datetime, stale_after_s: float, revoked: dict[int, datetime]
) -> datetime:
    """When an open attendance row ends, if it must end now."""
    at = now
    seen = row.last_seen_at
    if seen is not None and (now - seen).total_seconds() > stale_after_s:
        at = seen  # its node stopped writing: the session ended when it was last seen
    if row.credential_id in revoked:
        at = min(at, revoked[row.credential_id])
    return max(at, row.joined_at)
