"""The archive's care: the access log (who watched or downloaded what), retention policies
(keep a school's or a subject's recordings N days) and what the disk view and the retention
run need to know about recordings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select

from streamhub.catalog.base import CatalogBase, Page
from streamhub.catalog.models import (
    AccessEntry,
    Lesson,
    LessonEventRow,
    Recording,
    RetentionPolicy,
    School,
    Subject,
)
from streamhub.errors import Conflict, ErrorCode, NotFound

# Only finished recordings expire: one being written or finalized is left alone.
EXPIRABLE_STATES = ("ready", "failed")


@dataclass(frozen=True)
class AccessFilter:
    school_id: int | None = None
    recording_id: int | None = None
    capsule_id: int | None = None
    action: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.school_id is not None:
            clauses.append(AccessEntry.school_id == self.school_id)
        if self.recording_id is not None:
            clauses.append(AccessEntry.recording_id == self.recording_id)
        if self.capsule_id is not None:
            clauses.append(AccessEntry.capsule_id == self.capsule_id)
        if self.action is not None:
            clauses.append(AccessEntry.action == self.action)
        if self.date_from is not None:
            clauses.append(AccessEntry.at >= self.date_from)
        if self.date_to is not None:
            clauses.append(AccessEntry.at < self.date_to)
        return clauses


@dataclass(frozen=True)
class ArchivedRecording:
    """A recording as the retention run and the disk view see it."""

    id: int
    lesson_id: int
    title: str
    directory: str
    state: str
    ended: datetime
    school_id: int | None
    subject_id: int | None
    marked: bool


def policy_for(
    policies: Sequence[RetentionPolicy], school_id: int | None, subject_id: int | None
) -> RetentionPolicy | None:
    """The most specific policy: school and subject, then school, then subject, then the
    county's default (neither)."""
    best: tuple[int, RetentionPolicy] | None = None
    for policy in policies:
        if policy.school_id is not None and policy.school_id != school_id:
            continue
        if policy.subject_id is not None and policy.subject_id != subject_id:
            continue
        rank = (2 if policy.school_id is not None else 0) + (policy.subject_id is not None)
        if best is None or rank > best[0]:
            best = (rank, policy)
    return best[1] if best else None


class ArchiveStore(CatalogBase):
    async def add_access_entries(self, entries: Sequence[dict[str, Any]]) -> None:
        async with self.session() as session, session.begin():
            session.add_all(AccessEntry(**entry) for entry in entries)

    async def list_access(self, access: AccessFilter, limit: int, offset: int) -> Page[AccessEntry]:
        query = (
            select(AccessEntry)
            .where(*access.where())
            .order_by(AccessEntry.at.desc(), AccessEntry.id.desc())
        )
        return await self._page(query, limit, offset)

    async def prune_access(self, before: datetime) -> int:
        """Delete the entries older than ``before``; how many."""
        async with self.session() as session, session.begin():
            result = await session.execute(delete(AccessEntry).where(AccessEntry.at < before))
        return int(getattr(result, "rowcount", 0) or 0)

    async def downloads_off_schools(self) -> set[int]:
        async with self.session() as session:
            rows = await session.scalars(
                select(School.id).where(School.downloads_allowed.is_(False))
            )
            return set(rows.all())

    # ------------------------------------------------------------ retention policies

    async def list_policies(self) -> list[RetentionPolicy]:
        async with self.session() as session:
            query = select(RetentionPolicy).order_by(RetentionPolicy.id)
            return list((await session.scalars(query)).all())

    async def add_policy(
        self, school_id: int | None, subject_id: int | None, keep_days: int
    ) -> RetentionPolicy:
        async with self.session() as session, session.begin():
            if school_id is not None and await session.get(School, school_id) is None:
                raise NotFound(f"no school with id {school_id}")
            if subject_id is not None and await session.get(Subject, subject_id) is None:
                raise NotFound(f"no subject with id {subject_id}")
            same = select(RetentionPolicy.id).where(
                RetentionPolicy.school_id.is_(None)
                if school_id is None
                else RetentionPolicy.school_id == school_id,
                RetentionPolicy.subject_id.is_(None)
                if subject_id is None
                else RetentionPolicy.subject_id == subject_id,
            )
            if (await session.scalars(same)).first() is not None:
                raise Conflict(
                    "a policy for this school and subject exists; change it instead",
                    code=ErrorCode.POLICY_EXISTS,
                )
            row = RetentionPolicy(school_id=school_id, subject_id=subject_id, keep_days=keep_days)
            session.add(row)
        return row

    async def update_policy(self, policy_id: int, keep_days: int) -> RetentionPolicy:
        return await self._update(RetentionPolicy, policy_id, {"keep_days": keep_days})

    async def delete_policy(self, policy_id: int) -> None:
        await self._delete(RetentionPolicy, policy_id)

    # ------------------------------------------------------------ recordings on disk

    async def archived_recordings(self, *, expirable_only: bool) -> list[ArchivedRecording]:
        """Every recording with its lesson's school and subject, and whether the lecturer
        marked the lesson (``lesson_events`` kind ``mark``: such lessons are kept)."""
        marked = (
            select(LessonEventRow.id)
            .where(LessonEventRow.lesson_id == Lesson.id, LessonEventRow.kind == "mark")
            .exists()
        )
        query = (
            select(
                Recording.id,
                Recording.lesson_id,
                Lesson.title,
                Recording.directory,
                Recording.state,
                Recording.started_at,
                Recording.ended_at,
                Lesson.school_id,
                Lesson.subject_id,
                marked,
            )
            .join(Lesson, Recording.lesson_id == Lesson.id)
            .order_by(Recording.id)
        )
        if expirable_only:
            query = query.where(Recording.state.in_(EXPIRABLE_STATES))
        async with self.session() as session:
            rows = (await session.execute(query)).all()
        return [
            ArchivedRecording(
                id=r[0],
                lesson_id=r[1],
                title=r[2],
                directory=r[3],
                state=r[4],
                ended=r[6] or r[5],
                school_id=r[7],
                subject_id=r[8],
                marked=bool(r[9]),
            )
            for r in rows
        ]

    async def expired_recordings(self, now: datetime) -> list[tuple[ArchivedRecording, int]]:
        """Finished recordings older than their policy's days (with those days), oldest
        first; never one of a marked lesson, never one no policy covers."""
        policies = await self.list_policies()
        if not policies:
            return []
        expired = []
        for rec in await self.archived_recordings(expirable_only=True):
            policy = policy_for(policies, rec.school_id, rec.subject_id)
            if policy is None or rec.marked:
                continue
            if rec.ended < now - timedelta(days=policy.keep_days):
                expired.append((rec, policy.keep_days))
        expired.sort(key=lambda pair: (pair[0].ended, pair[0].id))
        return expired

    async def names(self) -> tuple[dict[int, str], dict[int, str]]:
        """Schools' and subjects' names by id (the disk view labels its rows)."""
        async with self.session() as session:
            schools = (await session.execute(select(School.id, School.name))).all()
            subjects = (await session.execute(select(Subject.id, Subject.name))).all()
        return {i: n for i, n in schools}, {i: n for i, n in subjects}
