"""Tokens handed to people: staff tokens minted here, lecturer links minted per lesson
(api/lessons.py). Both are listed and revocable; revoking one refuses its next request and
closes its live sessions on every hub node."""

from __future__ import annotations

import secrets
from typing import Literal

from fastapi import APIRouter, Query

from streamhub.api.auth import AdminOnly, ServicesDep
from streamhub.api.schemas import IdPath, IssuedTokenOut, OptionalIdQuery, StaffTokenIn, TokenOut
from streamhub.protocol import Role

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.post("/staff", dependencies=[AdminOnly])
async def staff_token(svc: ServicesDep, body: StaffTokenIn | None = None) -> TokenOut:
    """A token for staff: the library, recordings and attendance, no live media. Listed
    under `/api/tokens` and revocable there."""
    ttl = svc.settings.auth.access_token_ttl_s
    label = body.label if body is not None else ""
    row = await svc.catalog.issue_token_row("staff", ttl, label=label)
    token = svc.tokens.issue(
        sub=f"staff-{secrets.token_hex(4)}",
        role=Role.STAFF,
        name=label or "Staff",
        token_id=row.id,
        jti=row.jti,
        ttl_s=ttl,
    )
    return TokenOut(token=token, expires_in_s=ttl, token_id=row.id)


@router.get("", dependencies=[AdminOnly])
async def list_tokens(
    svc: ServicesDep,
    kind: Literal["lecturer_link", "rtmp_key", "staff"] | None = None,
    lesson_id: OptionalIdQuery = None,
    active: bool = Query(True, description="only tokens neither revoked nor expired"),
) -> list[IssuedTokenOut]:
    """Lecturer links, RTMP stream keys and staff tokens (the newest 1,000), each link and key
    with its lesson's title; the tokens
    themselves are never stored (an RTMP key is shown again by `GET
    /api/lessons/{id}/rtmp`)."""
    rows = await svc.catalog.list_issued_tokens(kind, lesson_id, active_only=active)
    titles = await svc.catalog.lesson_titles([r.lesson_id for r in rows if r.lesson_id])
    return [
        IssuedTokenOut.model_validate(r).model_copy(
            update={"lesson_title": titles.get(r.lesson_id) if r.lesson_id else None}
        )
        for r in rows
    ]


@router.delete("/{token_id}", dependencies=[AdminOnly])
async def revoke_token(token_id: IdPath, svc: ServicesDep) -> IssuedTokenOut:
    """Revoke a lecturer link or staff token: its next request fails, and its live sessions
    are closed now on every node."""
    row = await svc.catalog.revoke_issued_token(token_id)
    await svc.lessons.revoke_token_everywhere(token_id)
    return IssuedTokenOut.model_validate(row)
