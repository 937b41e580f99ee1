"""Fixtures every test folder shares: the in-process hubs and `admin`, which drives `hub`'s API
with the admin key.

``make_hub(**overrides)`` starts a hub with these settings overrides (as ``InProcessHub`` takes
them) and stops every hub it started when the test ends; ``hub`` is one with ``TEST_HUB`` (both
in tests.support.hub). A module whose tests need other settings says so in one line over the
factory::

    @pytest.fixture
    async def hub(make_hub: HubFactory) -> InProcessHub:
        return await make_hub(recorder={"enabled": False}, signaling={"max_message_bytes": 4096})

``make_module_hub`` is the same for hubs that a module's tests share (module loop scope).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.hub import TEST_HUB, AdminApi, HubFactory, InProcessHub, hub_factory


@pytest.fixture
async def make_hub(tmp_path: Path) -> AsyncIterator[HubFactory]:
    async with hub_factory(tmp_path) as make:
        yield make


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def make_module_hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HubFactory]:
    async with hub_factory(tmp_path_factory.mktemp("hubs")) as make:
        yield make


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(**TEST_HUB)


@pytest.fixture
async def admin(hub: InProcessHub) -> AsyncIterator[AdminApi]:
    api = AdminApi(hub.url)
    yield api
    await api.close()
