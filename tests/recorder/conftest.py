from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.hub import InProcessHub
from tests.support.recordings import wait_recording

__all__ = ["recording_hub", "wait_recording"]


@pytest.fixture(name="hub")
async def recording_hub(tmp_path: Path) -> AsyncIterator[InProcessHub]:
    """A hub that records its lessons, with thumbnails every 2 s (the library test uses it)."""
    async with InProcessHub(
        tmp_path / "hub", recorder={"disk_floor_mb": 0, "thumbnail_every_s": 2.0}
    ) as running:
        yield running
