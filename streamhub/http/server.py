"""uvicorn as the hub runs it: its HTTP protocol with a header deadline and a per-address
connection cap, and the options `streamhub serve` (and the tests' hubs) pass to uvicorn.

uvicorn has no deadline for a request's headers: a client that opens a connection and sends
half a request line holds it (and a file descriptor) forever, with h11 and httptools alike, and
a few hundred such connections exhaust the hub's descriptors (slowloris). Its keep-alive
timer only runs between two requests. The guard below arms a deadline whenever the
connection waits for headers (on open, and after each response) and closes the connection
when it passes; and it refuses connections beyond ``max_connections_per_address`` from one
address. Tied to uvicorn's protocol classes (0.54: ``connection_made``, ``cycle``,
``on_response_complete``, ``handle_websocket_upgrade``); tests/http exercise both parsers.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from streamhub.config import HttpSettings, Settings

logger = logging.getLogger(__name__)


class ConnectionGuard:
    """Open connections per client address, and what the guard refused or closed."""

    def __init__(self, per_address: int, header_timeout_s: float) -> None:
        self.per_address = per_address
        self.header_timeout_s = header_timeout_s
        self._open: dict[str, set[asyncio.BaseTransport]] = {}
        self.refused = 0
        self.timed_out = 0
        self._admitted = 0

    @staticmethod
    def _address(transport: asyncio.BaseTransport) -> str:
        peer = transport.get_extra_info("peername")
        return str(peer[0]) if isinstance(peer, tuple) and peer else ""

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        address = self._address(transport)
        # WebSocket connections leave the HTTP protocol without a connection_lost: transports
        # are pruned when found closed.
        live = {t for t in self._open.get(address, ()) if not t.is_closing()}
        self._admitted += 1
        if self._admitted % 1024 == 0:
            self._sweep()
        if len(live) >= self.per_address:
            self._open[address] = live
            self.refused += 1
            if self.refused % 100 == 1:
                logger.warning("refused connections from %s: over the per-address cap", address)
            return False
        live.add(transport)
        self._open[address] = live
        return True

    def forget(self, transport: asyncio.BaseTransport) -> None:
        address = self._address(transport)
        held = self._open.get(address)
        if held is not None:
            held.discard(transport)
            if not held:
                del self._open[address]

    def _sweep(self) -> None:
        for address in list(self._open):
            live = {t for t in self._open[address] if not t.is_closing()}
            if live:
                self._open[address] = live
            else:
                del self._open[address]


def guarded_protocol(base: type, guard: ConnectionGuard) -> type:
    """A subclass of uvicorn's HTTP protocol class ``base`` that enforces ``guard``."""

    class GuardedProtocol(base):  # type: ignore[misc]
        _deadline: asyncio.TimerHandle | None = None
        _waiting_after: Any = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            if not guard.admit(transport):
                transport.close()
                return
            self._arm_header_deadline()

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._waiting_after = self.cycle
            self._deadline = self.loop.call_later(guard.header_timeout_s, self._header_deadline)

        def _disarm_header_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _header_deadline(self) -> None:
            self._deadline = None
            # A new request cycle starts once its headers are complete.
            if self.cycle is self._waiting_after and not self.transport.is_closing():
                guard.timed_out += 1
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_deadline()

        def handle_websocket_upgrade(self, *args: Any) -> None:
            self._disarm_header_deadline()
            super().handle_websocket_upgrade(*args)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            guard.forget(self.transport)
            super().connection_lost(exc)

    GuardedProtocol.__name__ = f"Guarded{base.__name__}"
    return GuardedProtocol


def _protocol_base(name: str) -> type:
    if name in ("auto", "httptools"):
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

            return HttpToolsProtocol
        except ImportError:
            if name == "httptools":
                raise
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


def raise_fd_limit() -> int:
    """Raise the soft file-descriptor limit to the hard one (every participant costs a TCP
    socket and UDP sockets); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def limit_concurrency(http: HttpSettings, fd_limit: int) -> int:
    return http.limit_concurrency or max(64, fd_limit * 3 // 4)


def server_options(settings: Settings, guard: ConnectionGuard | None = None) -> dict[str, Any]:
    """Keyword arguments for uvicorn.Config / uvicorn.run."""
    http = settings.http
    guard = guard or ConnectionGuard(http.max_connections_per_address, http.header_timeout_s)
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return {
        "http": guarded_protocol(_protocol_base(http.protocol), guard),
        "timeout_keep_alive": http.keep_alive_timeout_s,
        "limit_concurrency": limit_concurrency(http, fd_limit),
        "ws_max_size": settings.signaling.max_message_bytes * 4,
        # Signaling messages are small and many: compressing each one costs the hub half
        # its CPU in a join storm (bench/signaling.py) and saves little.
        "ws_per_message_deflate": False,
    }
