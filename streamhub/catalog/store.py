"""The catalog store: one async SQLAlchemy engine, migrated on open, with the queries the
API, the live rooms and the recorder need. SQLite by default, PostgreSQL by URL.

One module per resource (schools.py, classrooms.py, lessons.py, credentials.py, tokens.py,
attendance.py, audio_only.py, lesson_events.py, recordings.py, checks.py, feed.py, timetable.py,
calendar_feeds.py, accounts.py, capsules.py, replay.py, vocabulary.py, search_store.py,
archive.py); ``Catalog`` is all of them over one engine."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from streamhub.catalog.accounts import AccountStore
from streamhub.catalog.archive import ArchiveStore
from streamhub.catalog.attendance import ATTENDANCE_MISSED_BEATS, AttendanceStore
from streamhub.catalog.audio_only import AudioOnlyStore
from streamhub.catalog.base import Page
from streamhub.catalog.calendar_feeds import CalendarFeedStore
from streamhub.catalog.capsules import CapsuleStore
from streamhub.catalog.checks import CHECKS_KEPT, ConnectionCheckStore
from streamhub.catalog.classrooms import ClassroomStore
from streamhub.catalog.credentials import CREDENTIAL_PREFIX, CredentialStore, IssuedCredential
from streamhub.catalog.feed import FeedStore
from streamhub.catalog.lesson_events import LessonEventStore
from streamhub.catalog.lessons import CODE_ALPHABET, LessonStore
from streamhub.catalog.recordings import RecordingStore
from streamhub.catalog.replay import ReplayStore
from streamhub.catalog.schools import SchoolStore
from streamhub.catalog.search import has_fts
from streamhub.catalog.search_store import SearchStore
from streamhub.catalog.timetable import TimetableStore
from streamhub.catalog.tokens import REQUIRED_BINDINGS, TokenStore
from streamhub.catalog.vocabulary import VocabularyStore
from streamhub.config import Settings

__all__ = [
    "ATTENDANCE_MISSED_BEATS",
    "CHECKS_KEPT",
    "CODE_ALPHABET",
    "CREDENTIAL_PREFIX",
    "MIGRATIONS",
    "REQUIRED_BINDINGS",
    "Catalog",
    "IssuedCredential",
    "Page",
]

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant: the PostgreSQL advisory lock that nodes migrating one catalog queue on.
_MIGRATION_LOCK = 0x5354524D
# How long an SQLite writer waits for the file lock (and a node for its turn to switch to WAL).
SQLITE_BUSY_S = 30.0


def _run_migrations(connection: Connection) -> None:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


class Catalog(
    SchoolStore,
    ClassroomStore,
    LessonStore,
    CredentialStore,
    TokenStore,
    AttendanceStore,
    AudioOnlyStore,
    LessonEventStore,
    RecordingStore,
    ConnectionCheckStore,
    FeedStore,
    TimetableStore,
    CalendarFeedStore,
    AccountStore,
    CapsuleStore,
    ReplayStore,
    VocabularyStore,
    SearchStore,
    ArchiveStore,
):
    @classmethod
    async def open(cls, settings: Settings) -> Catalog:
        url = settings.effective_database_url
        # SQLite: writers queue for the file lock instead of failing during a join storm.
        sqlite = url.startswith("sqlite")
        connect_args = {"timeout": SQLITE_BUSY_S} if sqlite else {}
        # Migrations run on connections of their own, without the foreign-key pragma: SQLite
        # changes a table by recreating it, and dropping the old one would cascade.
        migrator = create_async_engine(url, connect_args=connect_args)
        # Nodes (and `serve --workers` processes) started together on a new catalog each
        # migrate it: one at a time, in one transaction, so the later ones find it done
        # instead of failing on tables another just created.
        if sqlite:
            event.listen(migrator.sync_engine, "connect", _sqlite_own_transactions)
            event.listen(migrator.sync_engine, "begin", _sqlite_begin_immediate)
        try:
            async with migrator.begin() as connection:
                if migrator.dialect.name == "postgresql":
                    await connection.exec_driver_sql(
                        f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"
                    )
                await connection.run_sync(_run_migrations)
        finally:
            await migrator.dispose()
        if sqlite:
            await _use_wal(url, connect_args)
        engine = create_async_engine(url, connect_args=connect_args)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        catalog = cls(engine, ATTENDANCE_MISSED_BEATS * settings.attendance_seen_every_s)
        catalog.recordings_dir = settings.effective_recordings_dir
        if sqlite:
            async with catalog.session() as session:
                catalog.search_fts = await has_fts(session)
        return catalog

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")


async def _use_wal(url: str, connect_args: dict[str, Any]) -> None:
    """Put the catalog file in WAL mode (it stays so), so readers (the library) never block the
    recorder. While another connection holds a lock, SQLite refuses the switch at once, without
    waiting out its busy timeout: by an error, or by answering with the mode it keeps. Nodes
    opening a new catalog together take turns here; past the busy timeout the catalog opens in
    the mode it has (it works, with readers waiting for writers)."""
    engine = create_async_engine(url, connect_args=connect_args)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SQLITE_BUSY_S
    mode: str | None = None
    try:
        while loop.time() < deadline:
            try:
                async with engine.connect() as connection:
                    result = await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                    mode = str(result.scalar())
            except OperationalError as exc:
                if "locked" not in str(exc):
                    raise
            if mode in ("wal", "memory"):  # an in-memory database has no other
                return
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    logger.warning("the catalog stays in journal mode %s: another process kept it locked", mode)


def _sqlite_own_transactions(dbapi_connection: Any, _record: Any) -> None:
    # The driver would begin transactions itself, and only before DML: its DDL would
    # commit statement by statement, outside any lock.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    # The write lock from the start (the others wait up to the busy timeout), not at the
    # first write after reading a version that is about to change.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys for the cascades (the file is in WAL mode already: ``_use_wal``).
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # The library's weekday filter in the county's time zone (PostgreSQL has AT TIME ZONE).
    dbapi_connection.create_function("local_isodow", 2, local_isodow, deterministic=True)


def local_isodow(stored: str | None, zone: str) -> int | None:
    """The ISO weekday (1 Monday … 7 Sunday) in ``zone`` of a UTC time as SQLite stores it."""
    if stored is None:
        return None
    try:
        at = datetime.fromisoformat(stored).replace(tzinfo=UTC)
        return at.astimezone(ZoneInfo(zone)).isoweekday()
    except (ValueError, ZoneInfoNotFoundError):
        return None
