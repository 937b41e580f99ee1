"""The catalog's migrations build exactly the schema its models describe (a column added to a
model without a migration, or the other way round, fails here rather than in production)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from streamhub.catalog.models import Base
from streamhub.catalog.store import Catalog
from streamhub.config import load_settings


async def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    catalog = await Catalog.open(settings)
    await catalog.close()
    engine = create_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": False, "compare_server_default": False}
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
