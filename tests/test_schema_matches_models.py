"""The catalog's migrations build exactly the schema its models describe (a column added to a
model without a migration, or the other way round, fails here rather than in production), on
SQLite and on PostgreSQL, from an empty database."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from streamhub.catalog.models import Base
from streamhub.catalog.search import modelled
from streamhub.catalog.store import Catalog, _use_wal
from streamhub.config import load_settings
from tests.support.postgres import database, database_url, postgres_server

__all__ = ["database", "database_url", "postgres_server"]  # the fixtures this module uses


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": False, "include_name": modelled},
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(tmp_path: Path, database_url: str | None) -> None:
    settings = load_settings(None, data_dir=tmp_path, database_url=database_url)
    catalog = await Catalog.open(settings)
    await catalog.close()
    engine = create_async_engine(settings.effective_database_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == []


# One node's start, as far as the catalog goes: open it (migrating it) and close it.
OPEN_CATALOG = """
import asyncio
from streamhub.catalog.store import Catalog
from streamhub.config import load_settings

async def main() -> None:
    catalog = await Catalog.open(load_settings(None))
    await catalog.close()

asyncio.run(main())
"""


async def test_nodes_starting_together_on_an_empty_catalog_all_start(
    tmp_path: Path, database_url: str | None
) -> None:
    """Several hub nodes (or `serve --workers` processes) started at once on a new catalog:
    each migrates it on open, and none fails because another is creating the same tables."""
    env = {**os.environ, "STREAMHUB_DATA_DIR": str(tmp_path)}
    if database_url is not None:
        env["STREAMHUB_DATABASE_URL"] = database_url
    nodes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", OPEN_CATALOG, env=env, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    results = await asyncio.gather(*(asyncio.wait_for(n.communicate(), 120) for n in nodes))
    failed = [
        err.decode()[-2000:] for n, (_, err) in zip(nodes, results, strict=True) if n.returncode
    ]
    assert not failed, failed
    settings = load_settings(None, data_dir=tmp_path, database_url=database_url)
    catalog = await Catalog.open(settings)
    try:
        school = await catalog.create_school("S")
        assert (await catalog.get_school(school.id)).name == "S"
    finally:
        await catalog.close()


async def test_a_new_sqlite_catalog_goes_to_wal_even_while_another_node_holds_its_lock(
    tmp_path: Path,
) -> None:
    """SQLite refuses the switch to WAL at once, without its busy wait, while another
    connection holds a lock: a node starting beside another one that is migrating must wait
    its turn, not fail (seen under load with nodes starting together)."""
    settings = load_settings(None, data_dir=tmp_path)
    url = settings.effective_database_url
    path = url.split(":///", 1)[1]
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("CREATE TABLE other_node (x)")
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO other_node VALUES (1)")
        switching = asyncio.get_running_loop().create_task(_use_wal(url, {"timeout": 30}))
        # The other node keeps its lock while this one tries; then it commits.
        await asyncio.sleep(0.5)
        assert not switching.done()
        other.execute("COMMIT")
        await asyncio.wait_for(switching, 30)
    finally:
        other.close()
    fresh = sqlite3.connect(path)
    try:
        assert fresh.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        fresh.close()
    catalog = await Catalog.open(settings)  # and the catalog opens on it
    await catalog.close()
