"""The live tests that read the catalog (attendance) run against SQLite and PostgreSQL, with
the fixtures of tests/support/postgres.py."""

from tests.support.postgres import database, database_url, postgres_server

__all__ = ["database", "database_url", "postgres_server"]
