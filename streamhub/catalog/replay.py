"""Replay data: which stretches of a recording or a capsule each replay played. A session is
one player's replay (its batches add up); every play of a second counts, so seconds watched
again stand out (the "re-watched" heat)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select

from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import WatchRange, WatchSession


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
