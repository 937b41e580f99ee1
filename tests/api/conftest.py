"""The API's tests run against SQLite and PostgreSQL: the fixtures of tests/support/postgres.py
(a hub fixture that takes ``database_url`` runs once per backend)."""

from tests.support.postgres import (
    database,
    database_url,
    module_database,
    module_database_url,
    postgres_server,
)

__all__ = ["database", "database_url", "module_database", "module_database_url", "postgres_server"]
