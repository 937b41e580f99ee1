"""Who a request is, for the access log: a caller, or the person a media ticket was issued to
(a download link in a page carries a ticket, not an Authorization header)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from streamhub.access_log import Who
from streamhub.api.auth import Caller
from streamhub.errors import ErrorCode, Forbidden
from streamhub.services import Services

UNKNOWN = Who("ticket", "")


def who_of(who: Caller) -> Who:
    if who.account is not None:
        return Who(f"account:{who.account.id}", who.account.display_name or who.account.login)
    if who.grant is not None:
        return Who(f"token:{who.grant.sub}", who.grant.name)
    return Who("admin-key", "admin key")


def ticket_by(who: Caller | None) -> tuple[str, str] | None:
    if who is None:
        return None
    named = who_of(who)
    return named.key, named.name


def who_of_ticket(claims: dict[str, Any]) -> Who:
    by, name = claims.get("by"), claims.get("byn")
    if isinstance(by, str) and isinstance(name, str):
        return Who(by, name)
    return UNKNOWN


def client_ip(request: Request) -> str:
    """The client's address as the hub sees it: behind a proxy in ``tls.trusted_proxies``
    uvicorn has already put the forwarded address here."""
    return request.client.host if request.client else ""


def note(
    svc: Services,
    action: str,
    who: Who,
    request: Request,
    *,
    title: str,
    school_id: int | None,
    recording_id: int | None = None,
    capsule_id: int | None = None,
) -> None:
    if svc.access_log is None:
        return
    svc.access_log.note(
        action,
        who,
        title=title,
        school_id=school_id,
        client_ip=client_ip(request),
        recording_id=recording_id,
        capsule_id=capsule_id,
    )


async def downloads_allowed(svc: Services, school_id: int | None) -> bool:
    return school_id is None or school_id not in await svc.catalog.downloads_off_schools()


async def refuse_if_downloads_off(svc: Services, school_id: int | None) -> None:
    if not await downloads_allowed(svc, school_id):
        raise Forbidden(
            "this school has turned downloads off (replays stay open)",
            code=ErrorCode.DOWNLOADS_OFF,
        )
