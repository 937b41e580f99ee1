"""Request bodies: the caller is authenticated before a byte of the body is read, and the body
is capped and timed while it streams in.

(Starlette's RequestBodyLimitMiddleware, behind FastAPI's ``max_body_size``, replaces the
problem+json answer with a plain-text one, and it reads the first chunk before refusing an
announced length; so the cap is here.)

FastAPI reads and parses a JSON body before any route dependency checks who is calling, so
without this an anonymous client could make the hub buffer and parse any amount of JSON. Every
route that takes a body needs a credential (but the sign-in routes, which take a small body from
anyone: ``anonymous_paths``, each with its own cap), so a request that carries a body and no
credential the hub could accept is refused here with 401, unread. The check is cheap (the admin
key, a JWT's signature and expiry, the shape of a device credential); the routes still do the
full check (revocation, row bindings) on what gets through.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamhub.errors import ErrorCode, Unauthorized

PROBLEM = b"application/problem+json"
CREDENTIAL_PREFIX = "dc_"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body stalled for {seconds:g} s")


async def send_problem(send: Send, status: int, code: ErrorCode, detail: str) -> None:
    body = json.dumps(
        {"type": f"/problems/{code}", "title": detail, "status": status, "detail": detail,
         "code": code}
    ).encode()  # fmt: skip
    headers = [
        (b"content-type", PROBLEM),
        (b"content-length", str(len(body)).encode()),
        # The unread rest of the body makes the connection unusable for another request.
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class BodyGuard:
    """ASGI middleware for HTTP requests that carry a body."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout_s: float,
        authenticate: Callable[[Scope, str], None],
        path_limits: dict[str, int] | None = None,
        anonymous_paths: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.anonymous_paths = anonymous_paths or {}
        self.max_bytes = max_bytes
        # Routes that take more by design (the bandwidth probe's upload), capped all the same.
        self.path_limits = path_limits or {}
        self.timeout_s = timeout_s
        # Raises Unauthorized unless the bearer token could open some route with a body.
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length_header = _header(scope, b"content-length")
        chunked = "chunked" in (_header(scope, b"transfer-encoding") or "").lower()
        try:
            length = int(length_header) if length_header is not None else 0
        except ValueError:
            await send_problem(send, 400, ErrorCode.BAD_REQUEST, "invalid Content-Length")
            return
        if length <= 0 and not chunked:
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path in self.anonymous_paths:
            await self._guarded(scope, receive, send, length, self.anonymous_paths[path])
            return
        authorization = _header(scope, b"authorization") or ""
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized(
                    "an Authorization: Bearer token is required", code=ErrorCode.TOKEN_MISSING
                )
            self.authenticate(scope, token.strip())
        except Unauthorized as exc:
            await send_problem(send, 401, exc.code, exc.message)
            return
        await self._guarded(
            scope, receive, send, length, self.path_limits.get(path, self.max_bytes)
        )

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, length: int, limit: int
    ) -> None:
        if length > limit:
            too_large = BodyTooLarge(limit)
            await send_problem(send, 413, ErrorCode.BODY_TOO_LARGE, str(too_large.detail))
            return
        await self.app(scope, self._capped(receive, limit), send)

    def _capped(self, receive: Receive, limit: int) -> Receive:
        """The body as it streams in, refused (413, through the app's problem handler) past
        the cap and (408) when a chunk is this long in coming."""
        received = 0
        done = False

        async def capped() -> Message:
            nonlocal received, done
            if done:
                return await receive()  # after the body: only the disconnect is awaited
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                raise BodyTimeout(self.timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        return capped


def check_bearer(token: str, path: str, admin_key: str, verify: Callable[[str], object]) -> None:
    """The cheap check: the admin key, a device credential's shape on /api/device routes, or a
    JWT that verifies (signature, issuer, expiry). Raises Unauthorized."""
    if path.startswith("/api/device/"):
        if token.startswith(CREDENTIAL_PREFIX):
            return
        raise Unauthorized("a device credential is required", code=ErrorCode.CREDENTIAL_INVALID)
    if hmac.compare_digest(token.encode(), admin_key.encode()):
        return
    if token.startswith(CREDENTIAL_PREFIX):
        raise Unauthorized(
            "a device credential only opens /api/device routes", code=ErrorCode.TOKEN_INVALID
        )
    verify(token)
