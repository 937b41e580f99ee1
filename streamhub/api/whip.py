"""WHIP (RFC 9725): OBS, a lecture-capture box or a browser WHIP client publishes the lesson's
lecturer camera and microphone. The endpoint is ``/whip/{join code}``, the bearer token the
lecturer's link token; each session is a resource under it (``Location``).

The session logic is ``streamhub.signaling.whip``; CORS is ``streamhub.http.cors``.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from streamhub.api.auth import ServicesDep
from streamhub.auth.tokens import Grant
from streamhub.catalog.store import CREDENTIAL_PREFIX
from streamhub.errors import (
    Forbidden,
    NegotiationError,
    Redirect,
    StreamhubError,
    Unauthorized,
)
from streamhub.media.ice import client_ice_servers
from streamhub.protocol import ErrorCode, IceServer, Role, Slot
from streamhub.services import Services
from streamhub.signaling.whip import (
    IceRestartUnsupported,
    PreconditionFailed,
    WhipSession,
    WhipSessions,
    read_offer,
)

router = APIRouter(tags=["whip"])

SDP = "application/sdp"
TRICKLE = "application/trickle-ice-sdpfrag"
CodePath = Annotated[str, Path(min_length=1, max_length=16, pattern="^[A-Za-z0-9]+$")]
SessionPath = Annotated[str, Path(min_length=8, max_length=64, pattern="^[A-Za-z0-9_-]+$")]


class UnsupportedMediaType(StreamhubError):
    """The request body's media type is not the one this URL takes."""

    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    status = 415


def _sessions(svc: Services) -> WhipSessions:
    assert svc.whip is not None, "the WHIP sessions start with the app"
    return svc.whip


async def _lecturer(request: Request, svc: Services) -> tuple[str, Grant]:
    """The lecturer link token of the request, fully checked (signature, expiry, revocation,
    the rows it is bound to): 401 if it is no good, 403 if it is not a lecturer's."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "an Authorization: Bearer token is required", code=ErrorCode.TOKEN_MISSING
        )
    if token.startswith(CREDENTIAL_PREFIX) or hmac.compare_digest(
        token.encode(), svc.secrets.admin_key.encode()
    ):
        raise Forbidden("only the lesson's lecturer link can publish over WHIP")
    grant = svc.tokens.verify(token)
    await svc.catalog.check_grant(grant)
    if grant.role is not Role.LECTURER or grant.lesson is None or not grant.can_publish:
        raise Forbidden("only the lesson's lecturer link can publish over WHIP")
    return token, grant


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _link(server: IceServer) -> str:
    """One ICE server as a Link header value (RFC 9725 section 4.6)."""
    value = f'<{server.urls[0]}>; rel="ice-server"'
    if server.username is not None and server.credential is not None:
        value += (
            f'; username="{server.username}"; credential="{server.credential}"'
            '; credential-type="password"'
        )
    return value


# What each resource takes: the endpoint an offer, its sessions a trickled fragment.
ACCEPTS = {"Accept-Post": SDP, "Accept-Patch": TRICKLE}


@router.options("/whip/{code}", status_code=204)
async def whip_options(code: CodePath) -> Response:
    """What the endpoint takes (a browser's CORS preflight is answered before this)."""
    return Response(status_code=204, headers=ACCEPTS)


@router.options("/whip/{code}/screen", status_code=204)
async def whip_screen_options(code: CodePath) -> Response:
    """What the screen endpoint takes."""
    return Response(status_code=204, headers=ACCEPTS)


@router.options("/whip/{code}/{session_id}", status_code=204)
async def whip_session_options(code: CodePath, session_id: SessionPath) -> Response:
    """What a session takes: PATCH (trickle ICE) and DELETE."""
    return Response(status_code=204, headers={"Accept-Patch": TRICKLE})


@router.post("/whip/{code}", status_code=201, response_class=Response)
async def whip_publish(code: CodePath, request: Request, svc: ServicesDep) -> Response:
    """Publish the lecturer's camera and microphone: an SDP offer in, the answer out."""
    return await _publish(code, request, svc, Slot.CAMERA)


@router.post("/whip/{code}/screen", status_code=201, response_class=Response)
async def whip_publish_screen(code: CodePath, request: Request, svc: ServicesDep) -> Response:
    """Publish the lecturer's screen (one video track): shown to every classroom while it
    lasts, as the lecturer page's screen share is."""
    return await _publish(code, request, svc, Slot.SCREEN)


async def _publish(code: str, request: Request, svc: Services, slot: Slot) -> Response:
    token, grant = await _lecturer(request, svc)
    lesson = await svc.catalog.lesson_by_code(code)
    if grant.lesson != lesson.id:
        raise Forbidden("the token is for another lesson", code=ErrorCode.WRONG_LESSON)
    if _media_type(request) != SDP:
        raise UnsupportedMediaType(f"the offer must be sent as {SDP}")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise NegotiationError("the offer is not UTF-8 text") from None
    offer = read_offer(text, slot)
    try:
        session, answer = await _sessions(svc).publish(token, grant, lesson.join_code, offer)
    except Redirect as moved:
        # Another hub node holds the lesson's media (RFC 9725 section 4.5: 307).
        return Response(
            status_code=307, headers={"Location": moved.url.rstrip("/") + request.url.path}
        )
    pid = session.participant.id if session.participant is not None else session.id
    links = [_link(s) for s in client_ice_servers(svc.settings.ice, pid)]
    location = f"/whip/{lesson.join_code}/{session.id}"
    if svc.settings.node_url:
        # One of several nodes or workers (a shared port may hand the DELETE to another):
        # the session's URL is this node's own, final (RFC 9725 section 4.5). Otherwise
        # relative, right whatever address the client reached the hub by.
        location = svc.settings.node_url.rstrip("/") + location
    response = Response(
        content=answer,
        status_code=201,
        media_type=SDP,
        headers={"Location": location, "ETag": session.etag, "Accept-Patch": TRICKLE},
    )
    for link in links:
        response.headers.append("Link", link)
    return response


@router.patch("/whip/{code}/{session_id}", status_code=204, response_class=Response)
async def whip_patch(
    code: CodePath, session_id: SessionPath, request: Request, svc: ServicesDep
) -> Response:
    """Trickle ICE (RFC 9725 section 4.3): the client's candidates, as an RFC 8840 SDP
    fragment, for the ICE session the 201's ETag names. ICE restarts are not supported
    (422): aiortc cannot restart ICE; the client DELETEs the session and POSTs again."""
    _, grant = await _lecturer(request, svc)
    assert grant.lesson is not None
    sessions = _sessions(svc)
    session = sessions.find(session_id, grant.lesson, code)
    if _media_type(request) != TRICKLE:
        raise UnsupportedMediaType(f"a WHIP session takes {TRICKLE}")
    _check_if_match(request, session)
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise NegotiationError("the SDP fragment is not UTF-8 text") from None
    await sessions.trickle(session, text)
    return Response(status_code=204)


def _check_if_match(request: Request, session: WhipSession) -> None:
    """``If-Match: *`` asks for an ICE restart (422); any other value must name the current
    ICE session (412). Without the header the fragment is for the current one."""
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = [tag.strip() for tag in header.split(",") if tag.strip()]
    if "*" in tags:
        raise IceRestartUnsupported(
            "ICE restarts are not supported; DELETE the session and POST a new offer"
        )
    # Strong comparison (RFC 9110 section 13.1.1): a weak tag never matches.
    if not any(hmac.compare_digest(tag.encode(), session.etag.encode()) for tag in tags):
        raise PreconditionFailed("the If-Match names another ICE session than this one's ETag")


@router.delete("/whip/{code}/{session_id}", status_code=204, response_class=Response)
async def whip_delete(
    code: CodePath, session_id: SessionPath, request: Request, svc: ServicesDep
) -> Response:
    """End the session: the lecturer's camera and microphone leave the lesson."""
    _, grant = await _lecturer(request, svc)
    assert grant.lesson is not None
    sessions = _sessions(svc)
    await sessions.delete(sessions.find(session_id, grant.lesson, code))
    return Response(status_code=204)
