"""Replay data: which stretches of a recording or a capsule each replay played. A session is
one player's replay (its batches add up); every play of a second counts, so seconds watched
again stand out (the "re-watched" heat)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, null, select

from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import (
    Capsule,
    Lesson,
    Recording,
    WatchRange,
    WatchSession,
    utcnow,
)


@dataclass(frozen=True)
class Target:
    """What was watched: exactly one of the two."""

    recording_id: int | None = None
    capsule_id: int | None = None

    def where(self) -> ColumnElement[bool]:
        if self.recording_id is not None:
            return WatchSession.recording_id == self.recording_id
        return WatchSession.capsule_id == self.capsule_id


@dataclass(frozen=True)
class ReplayStats:
    views: int  # replays (sessions)
    viewers: int  # distinct accounts or tokens, never named
    watch_s: float  # every second played, re-watches included
    plays: list[int]  # per second of the timeline: how many times it was played


def per_recording() -> Select[int | None, int, float]:
    """Replays and seconds played (re-watches included) per recording: what the library
    sorts "most re-watched" by and shows on its cards."""
    return (
        select(
            WatchSession.recording_id.label("recording_id"),
            func.count(WatchSession.id).label("views"),
            func.coalesce(func.sum(WatchSession.seconds), 0.0).label("watch_s"),
        )
        .where(WatchSession.recording_id.is_not(None))
        .group_by(WatchSession.recording_id)
    )


@dataclass(frozen=True)
class Watched:
    """A recording's or a capsule's replay figures for the data feed (nobody in them)."""

    recording_id: int | None
    capsule_id: int | None
    lesson_id: int | None
    title: str
    views: int  # every replay so far
    watch_s: float  # every second played so far, re-watches included
    new_views: int  # replays begun in the window
    duration_s: float

    def as_data(self) -> dict[str, Any]:
        ident = (
            {"recording_id": self.recording_id}
            if self.capsule_id is None
            else {"capsule_id": self.capsule_id, "recording_id": self.recording_id}
        )
        return {**ident, "lesson_id": self.lesson_id, "title": self.title,
                "duration_s": self.duration_s, "views": self.views, "watch_s": self.watch_s,
                "new_views": self.new_views}  # fmt: skip


class ReplayStore(CatalogBase):
    async def add_watched(
        self, target: Target, viewer: str, client_key: str, ranges: list[tuple[float, float]]
    ) -> bool:
        """Add a batch to its replay; True when it is the replay's first (a new view)."""
        async with self.session() as session, session.begin():
            query = select(WatchSession).where(
                target.where(),
                WatchSession.viewer == viewer,
                WatchSession.client_key == client_key,
            )
            row = (await session.scalars(query)).first()
            first = row is None
            if row is None:
                row = WatchSession(
                    recording_id=target.recording_id,
                    capsule_id=target.capsule_id,
                    viewer=viewer,
                    client_key=client_key,
                    seconds=0.0,
                )
                session.add(row)
                await session.flush()
            row.seconds += sum(end - start for start, end in ranges)
            row.updated_at = utcnow()
            session.add_all(
                WatchRange(session_id=row.id, start_s=start, end_s=end) for start, end in ranges
            )
        return first

    async def replay_stats(self, target: Target, duration_s: float) -> ReplayStats:
        """Views, viewers, watch time, and plays per second (from every range: a difference
        array, so the cost is ranges + seconds)."""
        seconds = max(1, int(duration_s + 0.999))
        delta = [0] * (seconds + 1)
        async with self.session() as session:
            where = target.where()
            totals = (
                await session.execute(
                    select(
                        func.count(WatchSession.id),
                        func.count(func.distinct(WatchSession.viewer)),
                        func.coalesce(func.sum(WatchSession.seconds), 0.0),
                    ).where(where)
                )
            ).one()
            ranges = await session.execute(
                select(WatchRange.start_s, WatchRange.end_s)
                .join(WatchSession, WatchRange.session_id == WatchSession.id)
                .where(where)
            )
            for start, end in ranges:
                first, last = min(seconds, round(start)), min(seconds, round(end))
                if last > first:
                    delta[first] += 1
                    delta[last] -= 1
        plays, running = [], 0
        for step in delta[:seconds]:
            running += step
            plays.append(running)
        return ReplayStats(
            views=int(totals[0]),
            viewers=int(totals[1]),
            watch_s=round(float(totals[2]), 1),
            plays=plays,
        )

    async def recording_views(self, recording_ids: list[int]) -> dict[int, tuple[int, float]]:
        """Replays and seconds played of each recording, in one query."""
        if not recording_ids:
            return {}
        query = per_recording().where(WatchSession.recording_id.in_(recording_ids))
        async with self.session() as session:
            rows = await session.execute(query)
            return {int(r): (int(n), round(float(s), 1)) for r, n, s in rows if r is not None}

    async def capsule_views(self, capsule_ids: list[int]) -> dict[int, tuple[int, float]]:
        """Replays and seconds played of each capsule, in one query."""
        if not capsule_ids:
            return {}
        async with self.session() as session:
            rows = await session.execute(
                select(
                    WatchSession.capsule_id,
                    func.count(WatchSession.id),
                    func.coalesce(func.sum(WatchSession.seconds), 0.0),
                )
                .where(WatchSession.capsule_id.in_(capsule_ids))
                .group_by(WatchSession.capsule_id)
            )
            return {int(c): (int(n), round(float(s), 1)) for c, n, s in rows if c is not None}

    async def watched_between(
        self, since: datetime | None, until: datetime
    ) -> tuple[list[Watched], list[Watched]]:
        """The recordings and capsules some replay reported on in (since, until]: their
        figures so far and the replays begun in the window, most watched first."""
        window = WatchSession.updated_at <= until
        begun = WatchSession.started_at <= until
        if since is not None:
            window = window & (WatchSession.updated_at > since)
            begun = begun & (WatchSession.started_at > since)
        out: list[list[Watched]] = []
        async with self.session() as session:
            for column in (WatchSession.recording_id, WatchSession.capsule_id):
                touched = select(column).where(window, column.is_not(None)).distinct()
                figures = (
                    select(
                        column.label("target"),
                        func.count(WatchSession.id),
                        func.coalesce(func.sum(WatchSession.seconds), 0.0),
                        func.sum(case((begun, 1), else_=0)),
                    )
                    .where(column.in_(touched))
                    .group_by(column)
                    .subquery()
                )
                if column is WatchSession.recording_id:
                    query: Any = select(
                        figures, Recording.id, null(), Recording.lesson_id, Lesson.title,
                        Recording.duration_s,
                    ).join(Recording, Recording.id == figures.c.target).join(Lesson)  # fmt: skip
                else:
                    query = select(
                        figures, Capsule.recording_id, Capsule.id, Capsule.lesson_id,
                        Capsule.title, Capsule.duration_s,
                    ).join(Capsule, Capsule.id == figures.c.target)  # fmt: skip
                rows = (await session.execute(query)).all()
                found = [
                    Watched(
                        recording_id=rec, capsule_id=cap, lesson_id=lesson, title=title,
                        views=int(views), watch_s=round(float(seconds), 1),
                        new_views=int(new), duration_s=round(float(duration), 1),
                    )
                    for _t, views, seconds, new, rec, cap, lesson, title, duration in rows
                ]  # fmt: skip
                found.sort(key=lambda w: (-w.watch_s, -w.views, w.recording_id or 0,
                                          w.capsule_id or 0))  # fmt: skip
                out.append(found)
        return out[0], out[1]
