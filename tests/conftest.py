"""Fixtures every test folder shares. Each folder's conftest defines its own `hub` (with the
settings its tests need); `admin` drives that hub's API with the admin key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.hub import AdminApi, InProcessHub


@pytest.fixture
async def admin(hub: InProcessHub) -> AsyncIterator[AdminApi]:
    api = AdminApi(hub.url)
    yield api
    await api.close()
