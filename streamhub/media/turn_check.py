"""The hub tries its own TURN servers once at start-up and logs what it finds, so that a wrong
shared secret, a dead TURN server or a certificate clients will not trust shows up in the hub's
log on day one, not as classrooms without media behind their firewalls.

Only a log: the hub serves lessons either way (classrooms with open UDP need no TURN), and the
hub may not reach TURN the way classrooms do. `classroom-agent doctor` checks from a classroom.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from streamhub.config import Settings
from streamhub.media import aiortc_hooks
from streamhub.media.ice import client_ice_servers
from streamhub.media.turn_probe import probe_turn

logger = logging.getLogger(__name__)


def _context(settings: Settings) -> ssl.SSLContext:
    """The system's CAs, plus the chain of the hub's own certificate: a LAN deployment's TURN
    certificate usually comes from the same `streamhub tls init` CA."""
    context = ssl.create_default_context()
    if settings.tls.cert_file is not None:
        try:
            context.load_verify_locations(cafile=str(settings.tls.cert_file))
        except (OSError, ssl.SSLError):
            pass
    return context


async def check_turn_servers(settings: Settings) -> dict[str, str | None]:
    """url -> None when an allocation worked, else why not; each outcome is logged."""
    servers = [s for s in client_ice_servers(settings.ice, "hub-self-check") if s.username]
    if not servers:
        return {}
    aiortc_hooks.set_turn_ssl_context(_context(settings))
    probes = await asyncio.gather(
        *(probe_turn(url, s.username, s.credential) for s in servers for url in s.urls)
    )
    outcome: dict[str, str | None] = {}
    for probe in probes:
        outcome[probe.url] = None if probe.ok else probe.error
        if probe.ok:
            logger.info("TURN check: %s works (relay %s)", probe.url, probe.relayed)
        else:
            hint = ""
            if probe.error and "401" in probe.error:
                hint = ": ice.turn_servers' credential must equal coturn's static-auth-secret"
            logger.warning("TURN check: %s failed: %s%s", probe.url, probe.error, hint)
    return outcome
