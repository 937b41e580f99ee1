from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.hub import InProcessHub


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[InProcessHub]:
    # The join-rate limit has its own test; here classrooms rejoin many times on purpose.
    async with InProcessHub(
        tmp_path / "hub",
        recorder={"enabled": False},
        signaling={"joins_per_minute": 1000},
    ) as running:
        yield running
