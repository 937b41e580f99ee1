"""Calendar feeds: an admin makes a classroom's or a lecturer's .ics address (its token shown
once, only its hash kept) and revokes it; calendar apps read ``/calendar/<token>.ics`` without
any other credential, which is why each feed has a token of its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from fastapi import Path as FastApiPath
from pydantic import BaseModel, ConfigDict, model_validator

from streamhub.api.auth import AdminOnly, ServicesDep
from streamhub.api.schemas import Body, Id, IdPath, Label
from streamhub.catalog.models import CalendarFeed
from streamhub.errors import BadRequest, ErrorCode, NotFound
from streamhub.services import Services
from streamhub.timetable.ical import AHEAD, MAX_EVENTS, PAST, feed_calendar
from streamhub.timetable.plan import ClassroomResolver

router = APIRouter(tags=["calendar"])


class CalendarFeedIn(Body):
    """A classroom's feed (``classroom_id``, or ``classroom`` as a timetable names it:
    ``School/Classroom``) or a lecturer's (``lecturer``, the name lessons carry)."""

    kind: Literal["classroom", "lecturer"]
    classroom_id: Id | None = None
    classroom: Label | None = None
    lecturer: Label | None = None

    @model_validator(mode="after")
    def _target(self) -> CalendarFeedIn:
        if self.kind == "classroom" and self.classroom_id is None and not self.classroom:
            raise ValueError("a classroom feed needs classroom_id or classroom")
        if self.kind == "lecturer" and not self.lecturer:
            raise ValueError("a lecturer feed needs lecturer")
        return self


class CalendarFeedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    classroom_id: int | None
    lecturer_name: str
    created_at: datetime
    last_used_at: datetime | None


class IssuedFeedOut(CalendarFeedOut):
    url: str  # shown once: the hub keeps only the token's hash


@router.post("/api/calendar-feeds", status_code=201, dependencies=[AdminOnly])
async def create_feed(body: CalendarFeedIn, svc: ServicesDep) -> IssuedFeedOut:
    classroom_id = body.classroom_id
    if body.kind == "classroom" and classroom_id is None:
        assert body.classroom is not None
        found = ClassroomResolver(await svc.catalog.classroom_refs()).resolve(body.classroom)
        if len(found) != 1:
            why = "names several classrooms: write School/Classroom" if found else "is unknown"
            raise BadRequest(f"classroom {body.classroom!r} {why}", code=ErrorCode.NOT_FOUND)
        (classroom_id,) = found
    issued = await svc.catalog.create_calendar_feed(
        body.kind,
        classroom_id=classroom_id if body.kind == "classroom" else None,
        lecturer_name=body.lecturer or "" if body.kind == "lecturer" else "",
    )
    url = f"{svc.settings.effective_public_url}/calendar/{issued.token}.ics"
    return IssuedFeedOut(**CalendarFeedOut.model_validate(issued.feed).model_dump(), url=url)


@router.get("/api/calendar-feeds", dependencies=[AdminOnly])
async def list_feeds(svc: ServicesDep) -> list[CalendarFeedOut]:
    return [CalendarFeedOut.model_validate(f) for f in await svc.catalog.list_calendar_feeds()]


@router.delete("/api/calendar-feeds/{feed_id}", status_code=204, dependencies=[AdminOnly])
async def revoke_feed(feed_id: IdPath, svc: ServicesDep) -> Response:
    """Revoke: the address answers 404 from now on."""
    await svc.catalog.delete_calendar_feed(feed_id)
    return Response(status_code=204)


@router.get("/calendar/{token}.ics", response_class=Response)
async def calendar_feed(
    token: Annotated[str, FastApiPath(max_length=64)], svc: ServicesDep
) -> Response:
    """The feed itself, for calendar apps (the token in the address is the credential)."""
    feed = await svc.catalog.calendar_feed_by_token(token)
    body = await _feed_body(svc, feed)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        # Calendar apps poll; a shared cache must not keep one reader's calendar for another.
        headers={"Cache-Control": "private, no-cache"},
    )


async def _feed_body(svc: Services, feed: CalendarFeed) -> bytes:
    now = datetime.now(UTC)
    start, end = now - PAST, now + AHEAD
    if feed.kind == "classroom" and feed.classroom_id is not None:
        room = await svc.catalog.get_classroom(feed.classroom_id)
        lessons = await svc.catalog.scheduled_lessons(
            start, end, classroom_id=room.id, limit=MAX_EVENTS
        )
        name, page = f"{room.school.name}/{room.name}", "classroom"
    elif feed.kind == "lecturer":
        lessons = await svc.catalog.scheduled_lessons(
            start, end, lecturer=feed.lecturer_name, limit=MAX_EVENTS
        )
        name, page = feed.lecturer_name, "lesson"
    else:
        raise NotFound("no such calendar")
    public = svc.settings.effective_public_url
    return feed_calendar(
        f"StreamHub: {name}", lessons, svc.settings.county_zone, public, page, now=now
    )
