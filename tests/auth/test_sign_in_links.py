"""One-time sign-in links in the catalog, on SQLite and PostgreSQL: of two redemptions racing
with one link exactly one signs in, and a disabled account's link opens nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streamhub.auth.roles import AccountRole
from streamhub.catalog.store import Catalog
from streamhub.config import load_settings
from streamhub.errors import Conflict, Unauthorized
from tests.support.postgres import database, database_url, postgres_server

__all__ = ["database", "database_url", "postgres_server"]  # the fixtures this module uses


async def test_a_link_signs_in_once_even_when_raced(
    tmp_path: Path, database_url: str | None
) -> None:
    catalog = await Catalog.open(load_settings(None, data_dir=tmp_path, database_url=database_url))
    try:
        account = await catalog.create_account(login=" Li@School.CN ", role=AccountRole.LECTURER)
        assert account.login == "li@school.cn"
        with pytest.raises(Conflict):
            await catalog.create_account(login="LI@school.cn", role=AccountRole.STAFF)

        link = await catalog.create_sign_in_link(account.id, 900)
        results = await asyncio.gather(
            *(catalog.redeem_sign_in_link(link) for _ in range(4)), return_exceptions=True
        )
        won = [r for r in results if not isinstance(r, BaseException)]
        assert len(won) == 1 and won[0].id == account.id, results
        assert all(isinstance(r, Unauthorized) for r in results if r not in won), results

        # A disabled account's unused link opens nothing.
        other = await catalog.create_sign_in_link(account.id, 900)
        await catalog.update_account(account.id, {"disabled": True})
        with pytest.raises(Unauthorized):
            await catalog.redeem_sign_in_link(other)
    finally:
        await catalog.close()
