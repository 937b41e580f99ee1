"""The hub process freezes its start-up heap, so full collections skip it (streamhub.heap)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from tests.support.hub import HubProcess
from tests.support.wait import eventually


async def test_the_hub_freezes_its_heap_once_it_listens(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "hub", extra_env={"STREAMHUB_RECORDER__ENABLED": "false"})
    await asyncio.to_thread(hub.start)
    try:
        assert hub.log_path is not None
        log_path = hub.log_path

        def frozen() -> int:
            found = re.search(r"heap settled: (\d+) objects frozen", log_path.read_text())
            return int(found.group(1)) if found else 0

        # Its code and libraries: far more objects than a few classrooms' connections make.
        assert await eventually(lambda: frozen() > 100_000, timeout=30)
        async with httpx.AsyncClient(base_url=hub.url) as http:
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await asyncio.to_thread(hub.stop)
