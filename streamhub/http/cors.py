"""CORS for the WHIP endpoints, the only hub URLs meant to be called from other origins' pages
(browser WHIP clients, RFC 9725 section 4.5): the origins are the hub's allowed ones
(``signaling.allowed_origins`` and its public URL), as for the signaling WebSocket.

ASGI middleware outside the body guard, so that its refusals (401, 413) carry the headers too
and a browser client can read them. A request from an origin not allowed is refused (403).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamhub.config import Settings
from streamhub.errors import ErrorCode
from streamhub.http.body import send_problem

PREFIX = "/whip/"
ALLOW_METHODS = b"OPTIONS, POST, PATCH, DELETE"
ALLOW_HEADERS = b"Authorization, Content-Type, If-Match"
EXPOSE_HEADERS = b"Location, ETag, Link, Accept-Post, Accept-Patch"
PREFLIGHT_MAX_AGE_S = b"600"


def allowed_origins(settings: Settings) -> set[str]:
    """The origins whose pages may talk to this hub: configured, and its own public URL."""
    allowed = set(settings.signaling.allowed_origins)
    public = urlsplit(settings.effective_public_url)
    allowed.add(f"{public.scheme}://{public.netloc}")
    return allowed


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class WhipCors:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = allowed_origins(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if origin is None:
            # Not a browser (OBS, a capture box, curl): nothing to add.
            await self.app(scope, receive, send)
            return
        if origin not in self.allowed:
            await send_problem(
                send, 403, ErrorCode.ORIGIN_NOT_ALLOWED, "this origin may not use WHIP"
            )
            return
        cors = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", EXPOSE_HEADERS),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            # A preflight: answered here; no ICE servers in it (RFC 9725 section 4.6).
            headers = [
                *cors,
                (b"access-control-allow-methods", ALLOW_METHODS),
                (b"access-control-allow-headers", ALLOW_HEADERS),
                (b"access-control-max-age", PREFLIGHT_MAX_AGE_S),
                (b"accept-post", b"application/sdp"),
                (b"accept-patch", b"application/trickle-ice-sdpfrag"),
            ]
            if _header(scope, b"access-control-request-private-network") == "true":
                # Chromium's Private Network Access: a page elsewhere publishing to a hub on
                # the school LAN (or this machine) asks first.
                headers.append((b"access-control-allow-private-network", b"true"))
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
