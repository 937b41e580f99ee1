"""A bounded, in-order queue of lesson events for one reader (the hub's own recorder, a client).

Nothing a reader falls behind on may grow without bound: when the queue is full, the oldest
droppable item (a chat line, a stats summary: ``BULK``) makes room; when nothing is droppable,
``put`` refuses and the caller decides (the hub closes a slow member, a client drops the
oldest event). Unlike the socket's ``Outbox``, the order is kept: a reader that keeps up sees
every event as it happened.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

from streamhub.protocol import ChatMessage, StatsSummary

# Hub messages that may be dropped (oldest first) for a member that reads too slowly.
BULK = (ChatMessage, StatsSummary)

T = TypeVar("T")


class EventQueue(Generic[T]):
    def __init__(self, size: int) -> None:
        self.size = size
        self.dropped = 0
        self._items: deque[T] = deque()
        self._finished = False
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> bool:
        """Queue ``item``, dropping the oldest bulk item when full; False (and nothing
        queued) when full of items that must not be dropped."""
        if len(self._items) >= self.size and not self._drop_bulk():
            return False
        self._items.append(item)
        self._ready.set()
        return True

    def force(self, item: T) -> None:
        """Queue ``item`` whatever it costs: when full of items that must not be dropped, the
        oldest goes (a reader that never reads loses the past, not the present)."""
        if not self.put(item):
            self._items.popleft()
            self.dropped += 1
            self._items.append(item)
            self._ready.set()

    def finish(self) -> None:
        """No more items: ``get`` returns None once the queue is empty."""
        self._finished = True
        self._ready.set()

    async def get(self) -> T | None:
        while not self._items:
            if self._finished:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def _drop_bulk(self) -> bool:
        for index, queued in enumerate(self._items):
            if isinstance(queued, BULK):
                del self._items[index]
                self.dropped += 1
                return True
        return False
