"""Two aioice connections on loopback that know each other's candidates and credentials, ready
to ``connect()`` (the hooks installed: aioice leaves loopback out of its host candidates)."""

from __future__ import annotations

import asyncio

import aioice

from streamhub.media import aiortc_hooks


async def ice_pair(hub_controlling: bool) -> tuple[aioice.Connection, aioice.Connection]:
    """(hub, peer); the hub is the controlling end when ``hub_controlling``."""
    aiortc_hooks.install(["127.0.0.1"])
    hub = aioice.Connection(ice_controlling=hub_controlling, components=1)
    peer = aioice.Connection(ice_controlling=not hub_controlling, components=1)
    await asyncio.gather(hub.gather_candidates(), peer.gather_candidates())
    for a, b in ((hub, peer), (peer, hub)):
        for candidate in b.local_candidates:
            await a.add_remote_candidate(candidate)
        await a.add_remote_candidate(None)
        a.remote_username, a.remote_password = b.local_username, b.local_password
    return hub, peer
