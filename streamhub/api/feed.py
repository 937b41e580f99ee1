"""The county's data feed (admins): its events by pull, and the webhooks they are pushed to,
with each webhook's delivery log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, StringConstraints, field_validator

from streamhub.api.auth import AdminOnly, ServicesDep
from streamhub.api.schemas import NO_NUL, Body, IdPath
from streamhub.catalog.models import MAX_ID
from streamhub.feed.events import EVENT_TYPES, EventType

router = APIRouter(prefix="/api", tags=["data feed"], dependencies=[AdminOnly])


class EventOut(BaseModel):
    id: int
    type: str
    lesson_id: int | None
    created_at: datetime
    data: dict[str, Any]


class EventsOut(BaseModel):
    events: list[EventOut]
    # Ask again with ``after`` set to this for what came since (the same value: nothing new).
    next_after: int


class WebhookIn(Body):
    url: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=8, max_length=500, pattern=NO_NUL),
    ]
    # None or empty: every event type.
    events: list[EventType] = Field(default_factory=list, max_length=len(EVENT_TYPES))
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)
    ] = ""

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a webhook's url is an http:// or https:// address")
        if parts.username or parts.password:
            raise ValueError("no credentials in a webhook's url: verify its signature instead")
        return url


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    # Shown once: receivers verify StreamHub-Signature with it.
    secret: str


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event_type: str
    state: str  # pending | delivered | failed
    attempts: int
    last_status: int | None
    last_error: str
    next_attempt_at: datetime | None
    delivered_at: datetime | None


@router.get("/events")
async def events(
    svc: ServicesDep,
    after: int = Query(0, ge=0, le=MAX_ID),
    limit: int = Query(100, ge=1, le=1000),
    type: EventType | None = None,
) -> EventsOut:
    """The feed's events after the id ``after``, oldest first (at most ``limit``)."""
    rows = await svc.catalog.feed_events(after, limit, type)
    return EventsOut(
        events=[
            EventOut(
                id=r.id,
                type=r.type,
                lesson_id=r.lesson_id,
                created_at=r.created_at,
                data=json.loads(r.data),
            )
            for r in rows
        ],
        next_after=rows[-1].id if rows else after,
    )


def _webhook_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "events": row.events.split() if row.events != "*" else list(EVENT_TYPES),
        "description": row.description,
        "created_at": row.created_at,
    }


@router.post("/webhooks", status_code=201)
async def create_webhook(body: WebhookIn, svc: ServicesDep) -> WebhookCreatedOut:
    """A webhook for the chosen event types (none: all). Its secret is shown only here."""
    row = await svc.catalog.create_webhook(body.url, list(body.events), body.description)
    return WebhookCreatedOut(**_webhook_out(row), secret=row.secret)


@router.get("/webhooks")
async def list_webhooks(svc: ServicesDep) -> list[WebhookOut]:
    return [WebhookOut(**_webhook_out(row)) for row in await svc.catalog.list_webhooks()]


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: IdPath, svc: ServicesDep) -> Response:
    await svc.catalog.delete_webhook(webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries")
async def webhook_deliveries(
    webhook_id: IdPath, svc: ServicesDep, limit: int = Query(50, ge=1, le=500)
) -> list[DeliveryOut]:
    """The webhook's latest deliveries, newest first: delivered, pending (with the next
    attempt's time) or failed for good, with the last answer or error."""
    rows = await svc.catalog.webhook_deliveries(webhook_id, limit)
    return [
        DeliveryOut(
            id=d.id,
            event_id=e.id,
            event_type=e.type,
            state=d.state,
            attempts=d.attempts,
            last_status=d.last_status,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at if d.state == "pending" else None,
            delivered_at=d.delivered_at,
        )
        for d, e in rows
    ]
