"""Live state of a single hub node: everything is here, in this process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from streamhub.live.state import EventHandler, LiveEvent, NodeInfo


class MemoryLiveState:
    def __init__(self, node: NodeInfo) -> None:
        self.node = node
        self._snapshots: dict[int, dict[str, Any]] = {}

    async def start(
        self,
        on_event: EventHandler,
        load: Callable[[], int],
        held: Callable[[], Iterable[int]],
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def claim(self, lesson_id: int) -> NodeInfo:
        return self.node

    async def release(self, lesson_id: int) -> None:
        self._snapshots.pop(lesson_id, None)

    async def nodes(self) -> list[NodeInfo]:
        return [self.node]

    async def publish(self, event: LiveEvent) -> None:
        return None  # the only node has already acted on it

    async def save_snapshot(self, lesson_id: int, snapshot: dict[str, Any]) -> None:
        self._snapshots[lesson_id] = snapshot

    async def snapshot(self, lesson_id: int) -> dict[str, Any] | None:
        return self._snapshots.get(lesson_id)
