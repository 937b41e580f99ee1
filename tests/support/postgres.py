"""A PostgreSQL server for the tests, and a fresh database in it for each test.

By default the session starts its own: Debian's binaries (the `postgresql` package, which
`make test` installs), a data directory of its own in a temporary folder, listening only on
127.0.0.1 on a free port, stopped and removed at the end. ``STREAMHUB_TEST_POSTGRES_URL``
(e.g. ``postgresql+asyncpg://postgres:secret@127.0.0.1:5432/postgres``) names a server to use
instead; its user must be allowed to create databases.

Tests that should hold on both backends take the ``database_url`` fixture, parametrized by
``database`` ("sqlite": None, the hub's default file; "postgresql": a new database), and pass
it on as the hub's ``database_url`` setting. A test package makes the fixtures available by
importing them in its conftest."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import URL, make_url

from tests.support.net import free_port

URL_ENV = "STREAMHUB_TEST_POSTGRES_URL"
DATABASES = ["sqlite", "postgresql"]
# The user the server runs as when the tests run as root (PostgreSQL refuses root): the
# Debian package creates it.
SERVER_USER = "postgres"


def postgres_bindir() -> Path:
    """The newest installed Debian PostgreSQL's bin folder (/usr/lib/postgresql/<version>)."""
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*") if (p / "bin" / "postgres").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else -1,
    )
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (make test installs Debian's postgresql)")
    return versions[-1] / "bin"


def plain_dsn(url: URL) -> str:
    """The SQLAlchemy URL as asyncpg takes it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port, with a random password."""

    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    user: str = "streamhub"
    workdir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}:{self.password}@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self) -> dict[str, Any]:
        """Popen arguments that drop root to the server's user (nothing when not root)."""
        if os.geteuid() != 0:
            return {}
        account = pwd.getpwnam(SERVER_USER)
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60.0) -> None:
        bindir = postgres_bindir()
        # Not under pytest's tmp folders: those are private to root, and the server's user
        # must reach its data directory.
        self.workdir = Path(tempfile.mkdtemp(prefix="streamhub-pg-"))
        data, log = self.workdir / "data", self.workdir / "server.log"
        pwfile = self.workdir / "password"
        pwfile.write_text(self.password + "\n")
        drop = self._as_server_user()
        if drop:
            os.chown(self.workdir, drop["user"], drop["group"])
            os.chown(pwfile, drop["user"], drop["group"])
        initdb = subprocess.run(
            [bindir / "initdb", "-D", data, "-U", self.user, "--pwfile", pwfile,
             "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
            cwd=self.workdir, capture_output=True, timeout=timeout, check=False, **drop,
        )  # fmt: skip
        pwfile.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr.decode(errors='replace')}")
        with log.open("ab") as out:
            # Durability buys nothing in a throwaway cluster: no fsync, no full pages.
            self.proc = subprocess.Popen(
                [bindir / "postgres", "-D", data, "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={self.workdir}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
                cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, **drop,
            )  # fmt: skip
        # Ready when it accepts connections (pg_isready: the fixture may be asked for from
        # inside a running event loop, where asyncpg's ping cannot be run to completion).
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {log.read_text(errors='replace')[-3000:]}")
            ready = subprocess.run(
                [bindir / "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port),
                 "-U", self.user, "-d", "postgres", "-t", "2"],
                capture_output=True, timeout=30, check=False,
            )  # fmt: skip
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready: {log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: ends the clients' sessions
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server (the hub migrates it), dropped afterwards."""
    admin_url = make_url(server_url)
    name = f"test_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(plain_dsn(admin_url), timeout=30)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        connection = await asyncpg.connect(plain_dsn(admin_url), timeout=30)
        try:
            # FORCE: a hub a failed test left running must not keep the database alive.
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the session's PostgreSQL server (its ``postgres`` database)."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    server = PostgresServer()
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def database_url(database: str, request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """None for SQLite (the hub's file in its data folder); a fresh database's URL otherwise.
    The server starts only when a PostgreSQL test runs."""
    if database == "sqlite":
        yield None
        return
    server_url = request.getfixturevalue("postgres_server")
    async with fresh_database(server_url) as url:
        yield url


@pytest.fixture(scope="module", params=DATABASES)
def module_database(request: pytest.FixtureRequest) -> str:
    """``database`` for module-scoped hubs (one hub per backend per module)."""
    return str(request.param)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_database_url(
    module_database: str, request: pytest.FixtureRequest
) -> AsyncIterator[str | None]:
    if module_database == "sqlite":
        yield None
        return
    server_url = request.getfixturevalue("postgres_server")
    async with fresh_database(server_url) as url:
        yield url
