"""One TURN server tried with a real allocation: the hub's start-up check
(``streamhub.media.turn_check``), the client SDK's plans (``streamhub.client.ice_plans``) and
``classroom-agent doctor`` use it."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aioice.turn
from aiortc.rtcicetransport import parse_stun_turn_uri

from streamhub.media import aiortc_hooks

PROBE_TIMEOUT_S = 4.0


def turn_transport(url: str) -> str | None:
    """ "udp", "tcp" or "tls" for a TURN URL aiortc can use; None for one it would skip."""
    try:
        parsed = parse_stun_turn_uri(url)
    except ValueError:
        return None
    if parsed["scheme"] == "turns":
        # aiortc takes turns: only over TCP; `turns:...?transport=udp` (DTLS) is silently ignored.
        return "tls" if parsed["transport"] == "tcp" else None
    if parsed["scheme"] == "turn" and parsed["transport"] in ("udp", "tcp"):
        return str(parsed["transport"])
    return None


@dataclass(frozen=True)
class TurnProbe:
    url: str
    transport: str
    ok: bool
    relayed: tuple[str, int] | None
    error: str | None
    elapsed_s: float


class _Discard(asyncio.DatagramProtocol):
    pass


async def probe_turn(
    url: str, username: str | None, credential: str | None, timeout_s: float = PROBE_TIMEOUT_S
) -> TurnProbe:
    """Allocate a relay on the TURN server of ``url`` and release it at once. TLS is verified
    with the context set by ``aiortc_hooks.set_turn_ssl_context`` (system CAs by default)."""
    transport = turn_transport(url) or "unusable"
    started = time.monotonic()

    def result(ok: bool, relayed: Any = None, error: str | None = None) -> TurnProbe:
        return TurnProbe(url, transport, ok, relayed, error, time.monotonic() - started)

    if transport == "unusable":
        return result(False, error="not a TURN URL aiortc can use (turns: needs ?transport=tcp)")
    parsed = parse_stun_turn_uri(url)
    try:
        relay, _ = await asyncio.wait_for(
            aioice.turn.create_turn_endpoint(
                _Discard,
                server_addr=(parsed["host"], parsed["port"]),
                username=username,
                password=credential,
                ssl=True if transport == "tls" else None,
                transport="udp" if transport == "udp" else "tcp",
            ),
            timeout_s,
        )
    except TimeoutError:
        return result(False, error=f"no answer within {timeout_s:g} s (blocked or down)")
    except (OSError, ssl.SSLError, ValueError, aioice.stun.TransactionError) as exc:
        return result(False, error=aiortc_hooks.describe_turn_error(exc))
    relayed = relay.get_extra_info("sockname")
    relay.close()
    return result(True, relayed=(relayed[0], relayed[1]))
