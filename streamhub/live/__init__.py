"""Live state shared between hub nodes: which node holds each lesson's media, the nodes that
are alive, a snapshot of each live lesson, and events between nodes.

In memory for one node (the default); Redis for several (``redis_url``)."""

from __future__ import annotations

from streamhub.config import Settings
from streamhub.live.state import LiveEvent, LiveState, NodeInfo


def open_live_state(settings: Settings, url: str) -> LiveState:
    """The live state for these settings; ``url`` is this node's public URL."""
    node = NodeInfo(id=settings.effective_node_id, url=url)
    if settings.redis_url:
        from streamhub.live.redis_state import RedisLiveState

        return RedisLiveState(settings.redis_url, node, settings.live_ttl_s)
    from streamhub.live.memory import MemoryLiveState

    return MemoryLiveState(node)


__all__ = ["LiveEvent", "LiveState", "NodeInfo", "open_live_state"]
