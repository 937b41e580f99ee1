from __future__ import annotations

import pytest

from tests.support.hub import HubFactory, InProcessHub
from tests.support.recordings import wait_recording

__all__ = ["recording_hub", "wait_recording"]


@pytest.fixture(name="hub")
async def recording_hub(make_hub: HubFactory) -> InProcessHub:
    """A hub that records its lessons, with thumbnails every 2 s (the library test uses it)."""
    return await make_hub(recorder={"disk_floor_mb": 0, "thumbnail_every_s": 2.0})
