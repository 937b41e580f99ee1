"""Calendar feeds: one revocable token per classroom's or lecturer's .ics address."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from streamhub.catalog.base import CatalogBase, _hash
from streamhub.catalog.models import CalendarFeed, Classroom, utcnow
from streamhub.errors import NotFound

FEED_PREFIX = "cal_"


@dataclass(frozen=True)
class IssuedFeed:
    feed: CalendarFeed
    token: str  # shown once


class CalendarFeedStore(CatalogBase):
    async def create_calendar_feed(
        self, kind: str, classroom_id: int | None = None, lecturer_name: str = ""
    ) -> IssuedFeed:
        token = FEED_PREFIX + secrets.token_urlsafe(24)
        async with self.session() as session, session.begin():
            if classroom_id is not None and await session.get(Classroom, classroom_id) is None:
                raise NotFound(f"no classroom with id {classroom_id}")
            feed = CalendarFeed(
                kind=kind,
                classroom_id=classroom_id,
                lecturer_name=lecturer_name,
                token_hash=_hash(token),
            )
            session.add(feed)
        return IssuedFeed(feed, token)

    async def list_calendar_feeds(self) -> list[CalendarFeed]:
        async with self.session() as session:
            query = select(CalendarFeed).order_by(CalendarFeed.id)
            return list((await session.scalars(query)).all())

    async def delete_calendar_feed(self, feed_id: int) -> None:
        await self._delete(CalendarFeed, feed_id)

    async def calendar_feed_by_token(self, token: str) -> CalendarFeed:
        """The feed this token opens (noting that it was read), or NotFound."""
        if not token.startswith(FEED_PREFIX) or len(token) > 64:
            raise NotFound("no such calendar")
        async with self.session() as session, session.begin():
            feed = await session.scalar(
                select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token))
            )
            if feed is None:
                raise NotFound("no such calendar")
            feed.last_used_at = utcnow()
        return feed
