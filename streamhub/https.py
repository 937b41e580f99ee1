"""Serving the hub over HTTPS, and keeping lecturers off plain HTTP.

Two ways to HTTPS, both documented in the README: the hub serves TLS itself (``tls.cert_file``,
``tls.key_file``, with an optional plain-HTTP port that only redirects), or a reverse proxy
(Caddy) terminates TLS in front of it and says so in ``X-Forwarded-Proto``. In the second case a
plain-HTTP request that reached the hub from another machine, not through the proxy, is sent to
the public HTTPS address. Loopback is left alone: ``make run`` on one machine stays plain HTTP,
which browsers treat as a secure context.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from streamhub import heap
from streamhub.config import Settings
from streamhub.http.server import server_options

# Probes and scrapes stay answerable on plain HTTP inside a private network.
EXEMPT_PATHS = ("/healthz", "/readyz", "/metrics")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _target(base: str, scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    path: str = scope.get("path", "/")
    return base.rstrip("/") + path + (f"?{query}" if query else "")


async def _redirect(send: Send, location: str) -> None:
    # 308 keeps the method and body (an API POST is not turned into a GET).
    await send(
        {
            "type": "http.response.start",
            "status": 308,
            "headers": [
                (b"location", location.encode("latin-1")),
                (b"content-length", b"0"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


class HttpsRedirect:
    """Middleware: a plain-HTTP request from another machine goes to the public HTTPS URL."""

    def __init__(self, app: ASGIApp, https_base: str) -> None:
        self.app = app
        self.https_base = https_base

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("scheme") == "http"
            and not is_loopback((scope.get("client") or (None,))[0])
            and not scope.get("path", "").startswith(EXEMPT_PATHS)
        ):
            await _redirect(send, _target(self.https_base, scope))
            return
        await self.app(scope, receive, send)


def https_base(settings: Settings) -> str | None:
    """The HTTPS address plain-HTTP visitors are sent to, if the hub has one."""
    public = settings.effective_public_url
    return public if urlsplit(public).scheme == "https" else None


def install_https_redirect(app: Any, settings: Settings) -> None:
    base = https_base(settings)
    # The hub serving TLS itself sees no plain HTTP on its port: the redirect port does that.
    if base is not None and not settings.tls.enabled:
        app.add_middleware(HttpsRedirect, https_base=base)


def redirect_app(settings: Settings) -> ASGIApp:
    """The plain-HTTP listener of a hub that serves TLS itself: everything moves to HTTPS, on
    the name the visitor typed (an IP address stays an IP address) unless a public URL is set."""
    public = settings.public_url

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if public and urlsplit(public).scheme == "https":
            base = public
        else:
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host", b"").decode("latin-1")
            name = urlsplit(f"//{host}").hostname or settings.host
            if ":" in name:
                name = f"[{name}]"
            port = "" if settings.port == 443 else f":{settings.port}"
            base = f"https://{name}{port}"
        await _redirect(send, _target(base, scope))

    return app


class _Server(uvicorn.Server):
    """Signals are handled once for all servers of the process (``serve``)."""

    # Called once the server listens (the CLI prints its banner then, not before).
    on_started: Callable[[], None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets is not None:
            # uvicorn says where it listens only for sockets it opened itself; a worker's are
            # given (the shared port first), and its log should read the same.
            self._log_started_message(sockets[:1])
        if self.started:
            # The hub is up: full collections should not walk its start-up's objects again.
            heap.settle()
            if self.on_started is not None:
                self.on_started()


def uvicorn_config(app: ASGIApp, settings: Settings, **kwargs: Any) -> uvicorn.Config:
    """The hub's uvicorn settings; TLS when configured."""
    tls = settings.tls
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": True,
        "forwarded_allow_ips": tls.trusted_proxies,
        # Header deadline, per-address cap, limit_concurrency, WebSocket limits
        # (streamhub/http/server.py).
        **server_options(settings),
    }
    if tls.enabled:
        options["ssl_certfile"] = str(tls.cert_file)
        options["ssl_keyfile"] = str(tls.key_file)
    options.update(kwargs)
    return uvicorn.Config(app, **options)


async def serve(
    app: ASGIApp,
    settings: Settings,
    on_started: Callable[[], None] | None = None,
    sockets: list[socket.socket] | None = None,
    redirect: bool = True,
) -> None:
    """Run the hub, and the redirecting plain-HTTP listener when configured, until SIGINT or
    SIGTERM; the hub shuts down gracefully either way. ``on_started`` runs once the hub
    listens. A worker of several (streamhub.workers) passes the ``sockets`` it listens on,
    and only one worker runs the redirect listener (``redirect``)."""
    servers = [_Server(uvicorn_config(app, settings))]
    servers[0].on_started = on_started
    if redirect and settings.tls.enabled and settings.tls.redirect_http_port is not None:
        servers.append(
            _Server(
                uvicorn_config(
                    redirect_app(settings),
                    settings,
                    port=settings.tls.redirect_http_port,
                    ssl_certfile=None,
                    ssl_keyfile=None,
                    lifespan="off",
                )
            )
        )
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        for server in servers:
            # A second signal skips the graceful part, as uvicorn does on its own.
            server.force_exit = server.should_exit
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    tasks = [asyncio.create_task(servers[0].serve(sockets))]
    tasks += [asyncio.create_task(s.serve()) for s in servers[1:]]
    try:
        # One server failing to start (port taken) stops the other.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
