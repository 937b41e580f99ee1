"""The live-state interface (DESIGN.md, "State and storage")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

# A node's load is its participants plus this much per lesson it holds: an empty lesson
# still costs a room, a recorder and its forwarding.
LESSON_LOAD = 10


@dataclass(frozen=True)
class NodeInfo:
    id: str
    url: str
    load: int = 0


@dataclass(frozen=True)
class LiveEvent:
    """Something every node must act on: ``kind`` is start_lesson, end_lesson, update_lesson,
    revoke_credential or revoke_token; ``ident`` the lesson, credential or issued-token id."""

    kind: str
    ident: int
    origin: str = ""


EventHandler = Callable[[LiveEvent], Awaitable[None]]


class LiveState(Protocol):
    node: NodeInfo

    async def start(
        self,
        on_event: EventHandler,
        load: Callable[[], int],
        held: Callable[[], Iterable[int]],
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Register this node, keep it and the lessons it ``held`` alive (re-registering them
        after a store restart), and deliver other nodes' events to ``on_event``; after the
        store was unreachable, call ``on_reconnect`` (events sent meanwhile were lost)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the shared store cannot be reached (readiness)."""
        ...

    async def claim(self, lesson_id: int) -> NodeInfo:
        """The node that holds the lesson's media, assigning the least-loaded live node
        (this one on a tie) when none does."""
        ...

    async def release(self, lesson_id: int) -> None: ...

    async def nodes(self) -> list[NodeInfo]: ...

    async def publish(self, event: LiveEvent) -> None: ...

    async def save_snapshot(self, lesson_id: int, snapshot: dict[str, Any]) -> None:
        """Participants, raised hands and stage of a live lesson, for every node to read."""
        ...

    async def snapshot(self, lesson_id: int) -> dict[str, Any] | None: ...
