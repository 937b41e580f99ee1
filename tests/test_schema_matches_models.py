"""The catalog's migrations build exactly the schema its models describe (a column added to a
model without a migration, or the other way round, fails here rather than in production), on
SQLite and on PostgreSQL, from an empty database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from streamhub.catalog.models import Base
from streamhub.catalog.store import Catalog
from streamhub.config import load_settings
from tests.support.postgres import database, database_url, postgres_server

__all__ = ["database", "database_url", "postgres_server"]  # the fixtures this module uses


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": False}
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
