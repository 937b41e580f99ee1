"""The access log's writer never makes a route wait: entries past the bound are dropped and
counted while the catalog stalls, a failed write does not end the writer, and what waits is
written in batches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from streamhub.access_log import AccessLog, Who
from streamhub.catalog.store import Catalog
from tests.support.wait import eventually


class StalledCatalog:
    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.batches: list[int] = []
        self.fail_next = False

    async def add_access_entries(self, entries: Sequence[dict[str, Any]]) -> None:
        await self.open.wait()
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        self.batches.append(len(entries))


def _note(log: AccessLog, n: int) -> None:
    for i in range(n):
        log.note(
            "replay", Who("admin-key", "admin key"), title=f"t{i}", school_id=1, client_ip="::1"
        )


async def test_a_stalled_catalog_drops_past_the_bound_and_a_failed_write_is_survived() -> None:
    catalog = StalledCatalog()
    log = AccessLog(cast(Catalog, catalog), queue_max=3, batch_max=2)
    log.start()
    _note(log, 1)
    await asyncio.sleep(0)  # the writer takes the first entry and waits on the catalog
    _note(log, 5)  # three wait, two are dropped: note() returned at once each time
    assert log.dropped == 2
    catalog.fail_next = True
    catalog.open.set()
    await eventually(lambda: log.written + log.dropped == 6)
    assert log.dropped == 3 and log.written == 3  # the first batch (1) failed
    assert catalog.batches == [2, 1]
    _note(log, 1)
    await eventually(lambda: log.written == 4)
    await log.close()
