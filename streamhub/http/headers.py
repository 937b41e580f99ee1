"""Security headers on every HTTP response (pages, API, static files, errors)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(hub_origins: Iterable[str]) -> str:
    """Scripts, styles and everything else from this hub only: no inline script, no inline
    style attributes, no foreign origins. ``hub_origins`` are the other nodes of this
    deployment (a page may be sent to the node that holds its lesson), with their ws/wss
    twins."""
    connect = ["'self'"]
    for origin in hub_origins:
        parts = urlsplit(origin)
        if parts.scheme in ("http", "https") and parts.netloc:
            ws = "wss" if parts.scheme == "https" else "ws"
            connect += [f"{parts.scheme}://{parts.netloc}", f"{ws}://{parts.netloc}"]
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data: blob:",
        "media-src": "'self' blob:",
        "connect-src": " ".join(dict.fromkeys(connect)),
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class SecurityHeaders:
    """ASGI middleware: adds the headers to every response that does not set its own."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
