"""The access log's writer: routes note an entry and go on; one task writes the entries in
batches. Bounded: when the catalog stalls, entries past ``archive.access_log_queue`` are
dropped (and counted) rather than held, so no replay or download ever waits for the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamhub.catalog.models import utcnow

if TYPE_CHECKING:
    from streamhub.catalog.store import Catalog

logger = logging.getLogger(__name__)

ACTIONS = ("replay", "download", "capsule_view")


@dataclass(frozen=True)
class Who:
    """Who did it: ``account:<id>``, ``token:<subject>`` or ``admin-key``, and a name."""

    key: str
    name: str


class AccessLog:
    def __init__(self, catalog: Catalog, queue_max: int = 10_000, batch_max: int = 200) -> None:
        self._catalog = catalog
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_max)
        self._batch_max = batch_max
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0

    def note(
        self,
        action: str,
        who: Who,
        *,
        title: str,
        school_id: int | None,
        client_ip: str,
        recording_id: int | None = None,
        capsule_id: int | None = None,
    ) -> None:
        entry = {
            "at": utcnow(),
            "action": action,
            "who": who.key[:160],
            "who_name": who.name[:120],
            "recording_id": recording_id,
            "capsule_id": capsule_id,
            "title": title[:200],
            "school_id": school_id,
            "client_ip": client_ip[:64],
        }
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("access log: %d entries dropped (catalog too slow)", self.dropped)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="access-log")

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            await self._catalog.add_access_entries(batch)
            self.written += len(batch)
        except Exception:  # a lost batch must not end the writer
            self.dropped += len(batch)
            logger.exception("access log: %d entries not written", len(batch))

    async def flush(self) -> None:
        """Write what waits now (tests, and the hub's shutdown)."""
        batch: list[dict[str, Any]] = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
            if len(batch) >= self._batch_max:
                await self._write(batch)
                batch = []
        if batch:
            await self._write(batch)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
