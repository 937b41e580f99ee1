"""The data feed's rows: events, the webhooks that receive them, and each delivery's state."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import FeedEvent, Webhook, WebhookDelivery, utcnow


@dataclass(frozen=True)
class DueDelivery:
    """A delivery this node holds (``locked_until``), with what it sends and where."""

    delivery_id: int
    attempts: int
    url: str
    secret: str
    event_type: str
    body: bytes


def wants(webhook: Webhook, event_type: str) -> bool:
    return webhook.events == "*" or event_type in webhook.events.split()


class FeedStore(CatalogBase):
    async def add_feed_event(
        self, event_type: str, lesson_id: int | None, data: dict[str, Any]
    ) -> FeedEvent:
        """Keep the event, and a pending delivery of it for every webhook that wants it."""
        row = FeedEvent(type=event_type, lesson_id=lesson_id, data=json.dumps(data))
        async with self.session() as session, session.begin():
            session.add(row)
            await session.flush()
            for webhook in (await session.scalars(select(Webhook))).all():
                if wants(webhook, event_type):
                    session.add(WebhookDelivery(webhook_id=webhook.id, event_id=row.id))
        return row

    async def has_feed_event(self, event_type: str, lesson_id: int) -> bool:
        async with self.session() as session:
            found = await session.scalar(
                select(FeedEvent.id)
                .where(FeedEvent.type == event_type, FeedEvent.lesson_id == lesson_id)
                .limit(1)
            )
        return found is not None

    async def latest_feed_event(self, event_type: str) -> FeedEvent | None:
        async with self.session() as session:
            query = select(FeedEvent).where(FeedEvent.type == event_type)
            found: FeedEvent | None = await session.scalar(
                query.order_by(FeedEvent.id.desc()).limit(1)
            )
            return found

    async def feed_events(
        self, after: int, limit: int, event_type: str | None = None
    ) -> list[FeedEvent]:
        async with self.session() as session:
            query = select(FeedEvent).where(FeedEvent.id > after)
            if event_type is not None:
                query = query.where(FeedEvent.type == event_type)
            return list((await session.scalars(query.order_by(FeedEvent.id).limit(limit))).all())

    async def create_webhook(self, url: str, events: list[str], description: str) -> Webhook:
        row = Webhook(
            url=url,
            secret=f"whsec_{secrets.token_urlsafe(32)}",
            events=" ".join(sorted(set(events))) if events else "*",
            description=description,
        )
        async with self.session() as session, session.begin():
            session.add(row)
        return row

    async def list_webhooks(self) -> list[Webhook]:
        async with self.session() as session:
            return list((await session.scalars(select(Webhook).order_by(Webhook.id))).all())

    async def delete_webhook(self, webhook_id: int) -> None:
        async with self.session() as session, session.begin():
            row = await session.get(Webhook, webhook_id)
            if row is not None:
                await session.delete(row)
        if row is None:
            await self._get(Webhook, webhook_id)  # NotFound

    async def webhook_deliveries(
        self, webhook_id: int, limit: int
    ) -> list[tuple[WebhookDelivery, FeedEvent]]:
        """The webhook's latest deliveries, newest first, with their events."""
        await self._get(Webhook, webhook_id)
        async with self.session() as session:
            rows = await session.execute(
                select(WebhookDelivery, FeedEvent)
                .join(FeedEvent, FeedEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.webhook_id == webhook_id)
                .order_by(WebhookDelivery.id.desc())
                .limit(limit)
            )
            return [(delivery, event) for delivery, event in rows.all()]

    async def claim_deliveries(self, hold_s: float, limit: int) -> list[DueDelivery]:
        """Pending deliveries that are due, held by this node for ``hold_s``: another node
        (or this one's next round) does not send them meanwhile."""
        now = utcnow()
        claimed: list[DueDelivery] = []
        async with self.session() as session, session.begin():
            due = await session.execute(
                select(WebhookDelivery, Webhook, FeedEvent)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .join(FeedEvent, FeedEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.state == "pending")
                .where(WebhookDelivery.next_attempt_at <= now)
                .where(
                    or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now)
                )
                .order_by(WebhookDelivery.id)
                .limit(limit)
            )
            for delivery, webhook, event in due.all():
                held = await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery.id)
                    .where(
                        or_(
                            WebhookDelivery.locked_until.is_(None),
                            WebhookDelivery.locked_until < now,
                        )
                    )
                    .values(locked_until=now + timedelta(seconds=hold_s))
                )
                if held.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another node took it first
                body = {
                    "id": event.id,
                    "type": event.type,
                    "lesson_id": event.lesson_id,
                    "created_at": event.created_at.isoformat(),
                    "data": json.loads(event.data),
                }
                claimed.append(
                    DueDelivery(
                        delivery_id=delivery.id,
                        attempts=delivery.attempts,
                        url=webhook.url,
                        secret=webhook.secret,
                        event_type=event.type,
                        body=json.dumps(body, ensure_ascii=False).encode(),
                    )
                )
        return claimed

    async def delivery_attempted(
        self,
        delivery_id: int,
        status: int | None,
        error: str,
        retry_at: datetime | None,
    ) -> None:
        """Record an attempt: delivered (2xx), to retry at ``retry_at``, or failed for good
        (no ``retry_at``)."""
        now = utcnow()
        async with self.session() as session, session.begin():
            row = await session.get(WebhookDelivery, delivery_id)
            if row is None:
                return  # its webhook was deleted meanwhile
            row.attempts += 1
            row.last_status = status
            row.last_error = error[:300]
            row.locked_until = None
            if status is not None and 200 <= status < 300:
                row.state, row.delivered_at = "delivered", now
            elif retry_at is None:
                row.state = "failed"
            else:
                row.next_attempt_at = retry_at
