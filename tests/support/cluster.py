"""Two hub nodes (`python -m streamhub serve` subprocesses) over one real `redis-server`, sharing
one catalog and recordings folder, as `configs/compose.yaml` runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.hub import HubProcess
from tests.support.redis_server import RedisServer


async def start_cluster(
    work: Path, ttl_s: float = 6, **env: str
) -> tuple[RedisServer, HubProcess, HubProcess]:
    """Redis and nodes "a" and "b"; ``env`` adds STREAMHUB_* settings to both nodes."""
    server = RedisServer(work / "redis")
    await asyncio.to_thread(server.start)
    nodes: list[HubProcess] = []
    try:
        for name in ("a", "b"):
            node = HubProcess(work / "hub")  # one catalog and recordings folder, shared
            node.extra_env = {
                "STREAMHUB_REDIS_URL": server.url,
                "STREAMHUB_NODE_ID": name,
                "STREAMHUB_PUBLIC_URL": node.url,
                "STREAMHUB_LIVE_TTL_S": str(ttl_s),
                "STREAMHUB_SIGNALING__JOINS_PER_MINUTE": "1000",
                **env,
            }
            # One at a time: the first node migrates the shared catalog.
            await asyncio.to_thread(node.start)
            nodes.append(node)
    except BaseException:
        await stop_cluster(server, *nodes)
        raise
    return server, nodes[0], nodes[1]


async def stop_cluster(server: RedisServer, *nodes: HubProcess) -> None:
    for node in nodes:
        await asyncio.to_thread(node.stop)
    await asyncio.to_thread(server.stop)
