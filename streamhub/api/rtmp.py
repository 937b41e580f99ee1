"""RTMP stream keys: issued per lesson by the admin, like lecturer links (listed under
`/api/tokens` as kind `rtmp_key`, revoked there, which ends a running push); shown again to the
admin and to the lesson's lecturer page (`GET /api/lessons/{id}/rtmp`)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from streamhub.api.access import Use, lesson_access
from streamhub.api.auth import Admins, CallerDep, ServicesDep
from streamhub.api.schemas import IdPath, RtmpKeyOut, RtmpOut
from streamhub.catalog.models import IssuedToken
from streamhub.errors import Conflict, ErrorCode
from streamhub.rtmp.keys import KIND, stream_key
from streamhub.services import Services

router = APIRouter(prefix="/api/lessons", tags=["rtmp"])


def _require_enabled(svc: Services) -> None:
    if not svc.settings.rtmp.enabled:
        raise Conflict("the RTMP bridge is off (rtmp.enabled: false)", code=ErrorCode.RTMP_DISABLED)


def key_out(svc: Services, row: IssuedToken) -> RtmpKeyOut:
    server = svc.settings.effective_rtmp_url
    key = stream_key(svc.secrets.jwt_secret, row.id, row.jti)
    expires_at = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    return RtmpKeyOut(
        server_url=server,
        stream_key=key,
        url=f"{server}/{key}",
        expires_in_s=max(0, int((expires_at - datetime.now(UTC)).total_seconds())),
        token_id=row.id,
    )


@router.post("/{lesson_id}/rtmp-key", dependencies=[Admins])
async def issue_rtmp_key(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> RtmpKeyOut:
    """A new RTMP stream key for the lesson: a lecture-capture box pushes H.264/AAC to
    `server_url` with it. Listed under `/api/tokens` (kind `rtmp_key`); revoking it there
    refuses its next push and ends a running one."""
    await lesson_access(svc, who, lesson_id, Use.EDIT)
    _require_enabled(svc)
    lesson = await svc.catalog.get_lesson(lesson_id)
    row = await svc.catalog.issue_token_row(
        KIND, svc.settings.auth.lecturer_link_ttl_s, lesson_id=lesson.id, label=lesson.title
    )
    return key_out(svc, row)


@router.get("/{lesson_id}/rtmp")
async def lesson_rtmp(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> RtmpOut:
    """Whether the RTMP bridge is on, and the lesson's newest active stream key if one is
    issued (admin, or the lesson's lecturer link: its page shows it)."""
    await lesson_access(svc, who, lesson_id, Use.RUN)
    await svc.catalog.get_lesson(lesson_id)
    if not svc.settings.rtmp.enabled:
        return RtmpOut(enabled=False)
    rows = await svc.catalog.list_issued_tokens(KIND, lesson_id, active_only=True)
    return RtmpOut(
        enabled=True,
        server_url=svc.settings.effective_rtmp_url,
        key=key_out(svc, rows[0]) if rows else None,
    )
