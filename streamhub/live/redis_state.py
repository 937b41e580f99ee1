"""Live state over Redis, for several hub nodes (redis-py asyncio).

Keys (prefix ``streamhub:``):
- ``node:<id>``: hash {url, load}, expiring ``ttl`` seconds after the node's last heartbeat;
- ``lesson:<id>:owner``: the node holding the lesson's media, refreshed by that node's
  heartbeat through ``node:<id>:lessons``, so a dead node's lessons free up within ``ttl``;
- ``lesson:<id>:snapshot``: participants, raised hands and stage, as JSON;
- channel ``events``: LiveEvent JSON for every node.
A Redis outage leaves live lessons running on their nodes; heartbeats re-register them
when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from streamhub.live.state import LESSON_LOAD, EventHandler, LiveEvent, NodeInfo

logger = logging.getLogger(__name__)
PREFIX = "streamhub:"
CHANNEL = PREFIX + "events"

# Set the owner key to ``me`` when it is free or holds ``expected``; return the owner after.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[4])
  if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('HINCRBY', KEYS[3], 'load', ARGV[5])
  end
  return ARGV[1]
end
return v
"""
# Refresh the owner key only while it is still ours (or free again after a Redis restart).
_REFRESH = """
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


def _owner_key(lesson_id: int) -> str:
    return f"{PREFIX}lesson:{lesson_id}:owner"


def _node_key(node_id: str) -> str:
    return f"{PREFIX}node:{node_id}"


def _lessons_key(node_id: str) -> str:
    return f"{PREFIX}node:{node_id}:lessons"


class RedisLiveState:
    def __init__(self, url: str, node: NodeInfo, ttl_s: float) -> None:
        self.node = node
        self.ttl = max(2, round(ttl_s))
        self.redis = aioredis.from_url(
            url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._on_event: EventHandler | None = None
        self._load: Callable[[], int] = lambda: 0
        self._held: Callable[[], Iterable[int]] = tuple
        self._on_reconnect: Callable[[], Awaitable[None]] | None = None
        self._unreachable = False

    # ------------------------------------------------------------ lifecycle

    async def start(
        self,
        on_event: EventHandler,
        load: Callable[[], int],
        held: Callable[[], Iterable[int]],
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._on_event = on_event
        self._load = load
        self._held = held
        self._on_reconnect = on_reconnect
        with contextlib.suppress(RedisError, OSError):
            await self._beat()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._heartbeat(), name="live-heartbeat"),
            loop.create_task(self._listen(), name="live-events"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(_node_key(self.node.id))
        await self.redis.aclose()

    async def ping(self) -> None:
        await self.redis.ping()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                logger.warning("live state: heartbeat failed: %s", exc)
                self._unreachable = True
            else:
                await self._reached()

    async def _reached(self) -> None:
        """Redis answered: if it had not, what was published meanwhile never came."""
        if not self._unreachable:
            return
        self._unreachable = False
        if self._on_reconnect is not None:
            try:
                await self._on_reconnect()
            except Exception:
                logger.exception("live state: catching up after Redis came back failed")

    async def _beat(self) -> None:
        key = _node_key(self.node.id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"url": self.node.url, "load": self._load()})
            pipe.expire(key, self.ttl)
            await pipe.execute()
        # Lessons assigned to this node, and the ones it holds rooms for (after a Redis
        # restart the store has forgotten both).
        assigned = set(await self.redis.smembers(_lessons_key(self.node.id)))
        for lesson in assigned | {str(i) for i in self._held()}:
            kept = await self.redis.eval(
                _REFRESH, 1, _owner_key(int(lesson)), self.node.id, self.ttl
            )
            if kept:
                await self.redis.sadd(_lessons_key(self.node.id), lesson)
            else:
                await self.redis.srem(_lessons_key(self.node.id), lesson)

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(CHANNEL)
                await self._reached()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    await self._deliver(message.get("data"))
            except (RedisError, OSError) as exc:
                logger.warning("live state: event subscription lost: %s", exc)
                self._unreachable = True
                await asyncio.sleep(1.0)

    async def _deliver(self, data: Any) -> None:
        try:
            raw = json.loads(data)
            event = LiveEvent(str(raw["kind"]), int(raw["ident"]), str(raw.get("origin", "")))
        except (TypeError, ValueError, KeyError):
            logger.warning("live state: malformed event ignored")
            return
        if event.origin == self.node.id or self._on_event is None:
            return
        try:
            await self._on_event(event)
        except Exception:
            logger.exception("live state: event %s failed", event.kind)

    # ------------------------------------------------------------ lessons and nodes

    async def _node(self, node_id: str) -> NodeInfo | None:
        data = await self.redis.hgetall(_node_key(node_id))
        if not data:
            return None
        return NodeInfo(id=node_id, url=str(data.get("url", "")), load=int(data.get("load", 0)))

    async def nodes(self) -> list[NodeInfo]:
        found = []
        async for key in self.redis.scan_iter(match=f"{PREFIX}node:*", count=100):
            node_id = key[len(PREFIX) + len("node:") :]
            if ":" in node_id:
                continue  # a node's lesson set, not a node
            node = await self._node(node_id)
            if node is not None:
                found.append(node)
        return found

    async def claim(self, lesson_id: int) -> NodeInfo:
        current = await self.redis.get(_owner_key(lesson_id))
        if current:
            owner = await self._node(str(current))
            if owner is not None:
                return owner
        alive = await self.nodes()
        # Least loaded; on a tie this node, which has the participant in hand already.
        chosen = min(alive or [self.node], key=lambda n: (n.load, n.id != self.node.id, n.id))
        # The chosen node's load counts the lesson at once, not at its next heartbeat: a burst
        # of lessons going live together is spread over the nodes.
        winner = await self.redis.eval(
            _CLAIM,
            3,
            _owner_key(lesson_id),
            _lessons_key(chosen.id),
            _node_key(chosen.id),
            chosen.id,
            current or "",
            self.ttl,
            str(lesson_id),
            LESSON_LOAD,
        )
        if winner == self.node.id:
            return self.node
        return await self._node(str(winner)) or chosen

    async def release(self, lesson_id: int) -> None:
        await self.redis.eval(_RELEASE, 1, _owner_key(lesson_id), self.node.id)
        await self.redis.srem(_lessons_key(self.node.id), str(lesson_id))
        await self.redis.delete(f"{PREFIX}lesson:{lesson_id}:snapshot")

    async def publish(self, event: LiveEvent) -> None:
        payload = {"kind": event.kind, "ident": event.ident, "origin": self.node.id}
        await self.redis.publish(CHANNEL, json.dumps(payload))

    async def save_snapshot(self, lesson_id: int, snapshot: dict[str, Any]) -> None:
        await self.redis.set(
            f"{PREFIX}lesson:{lesson_id}:snapshot", json.dumps(snapshot), ex=self.ttl * 3
        )

    async def snapshot(self, lesson_id: int) -> dict[str, Any] | None:
        raw = await self.redis.get(f"{PREFIX}lesson:{lesson_id}:snapshot")
        return None if raw is None else json.loads(raw)
