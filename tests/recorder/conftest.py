from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hub import InProcessHub


@pytest.fixture(name="hub")
async def recording_hub(tmp_path: Path) -> AsyncIterator[InProcessHub]:
    """A hub that records its lessons, with thumbnails every 2 s (the library test uses it)."""
    async with InProcessHub(
        tmp_path / "hub", recorder={"disk_floor_mb": 0, "thumbnail_every_s": 2.0}
    ) as running:
        yield running


async def wait_recording(
    http: httpx.AsyncClient, lesson_id: int, state: str = "ready", timeout: float = 60.0
) -> dict[str, Any]:
    """The lesson's recording once it reaches ``state``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        page = (await http.get("/api/recordings", params={"limit": 200})).json()
        found = [r for r in page["items"] if r["lesson_id"] == lesson_id]
        if found:
            last = found[0]
            if last["state"] == state:
                return last
            assert last["state"] != "failed", last
        await asyncio.sleep(0.3)
    raise AssertionError(f"recording not {state} within {timeout}s: {last}")
