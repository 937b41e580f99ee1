from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.hub import AdminApi, InProcessHub


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[InProcessHub]:
    async with InProcessHub(tmp_path / "hub", recorder={"enabled": False}) as running:
        yield running


@pytest.fixture
async def admin(hub: InProcessHub) -> AsyncIterator[AdminApi]:
    api = AdminApi(hub.url)
    yield api
    await api.close()
