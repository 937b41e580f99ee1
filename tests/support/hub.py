"""Run the real hub: in this process (to look inside) or as a subprocess (to kill it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import uvicorn

from recorder.plugin import recorder_extension
from recorder.service import RecorderService
from streamhub.app import ExtensionFactory, create_app
from streamhub.config import Settings, load_settings
from streamhub.http.server import ConnectionGuard, server_options
from tests.support.net import free_port

LOOPBACK_CANDIDATES = '["127.0.0.0/8"]'
# A test machine's load is the tests' own (Chromium encoding, agents, the test's driver sharing
# an in-process hub's event loop): a CI run saw a classroom never get video, which is what the
# overload guard does to the newest classroom. Tests of other things get a guard that acts only
# on a loop that is really stuck; tests/media/test_capacity.py tests the guard's own figures.
TEST_OVERLOAD_LAG_MS = "2000"
ADMIN_KEY = "test-admin-key-0123456789abcdef"
JWT_SECRET = "test-jwt-secret-0123456789abcdef-xyz"


def hub_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "STREAMHUB_DATA_DIR": str(data_dir),
            "STREAMHUB_ADMIN_KEY": ADMIN_KEY,
            "STREAMHUB_JWT_SECRET": JWT_SECRET,
            "STREAMHUB_PORT": str(port),
            "STREAMHUB_HOST": "127.0.0.1",
            "STREAMHUB_LOG_LEVEL": "INFO",
            "STREAMHUB_RECORDER__DISK_FLOOR_MB": "0",
            # Every test peer is on loopback, which the hub refuses as a remote candidate
            # unless told otherwise (production default: refused).
            "STREAMHUB_ICE__ALLOWED_REMOTE_NETWORKS": LOOPBACK_CANDIDATES,
            "STREAMHUB_CAPACITY__OVERLOAD_LAG_MS": TEST_OVERLOAD_LAG_MS,
        }
    )
    env.update(extra)
    return env


@dataclass
class HubProcess:
    """`python -m streamhub serve` in a subprocess, on a free loopback port."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    # Hub processes (`serve --workers`); tests ask for more explicitly.
    workers: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.log_path = self.data_dir / f"hub-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The child writes to its own copy of the descriptor: ours is closed once it runs.
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamhub", "serve", "--port", str(self.port)],
                env=hub_env(
                    self.data_dir,
                    self.port,
                    **{"STREAMHUB_WORKERS": str(self.workers), **self.extra_env},
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # Not left running behind the failed test (with its log and port).
        self.kill()
        raise RuntimeError("hub did not become ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class InProcessHub:
    """The hub's ASGI app served by uvicorn inside the test's event loop."""

    def __init__(
        self,
        data_dir: Path,
        extensions: Sequence[ExtensionFactory] = (recorder_extension,),
        **overrides: Any,
    ) -> None:
        self.port = free_port()
        os.environ.setdefault("STREAMHUB_LOG_JSON", "false")
        # Loopback candidates allowed, as in hub_env (a test passes ice=... to say otherwise).
        overrides["ice"] = {
            "allowed_remote_networks": json.loads(LOOPBACK_CANDIDATES),
            **overrides.get("ice", {}),
        }
        overrides["capacity"] = {
            "overload_lag_ms": float(TEST_OVERLOAD_LAG_MS),
            **overrides.get("capacity", {}),
        }
        self.settings: Settings = load_settings(
            None,
            data_dir=data_dir,
            port=self.port,
            admin_key=ADMIN_KEY,
            jwt_secret=JWT_SECRET,
            **overrides,
        )
        # Composed as `streamhub serve` composes it: the hub records.
        self.app = create_app(self.settings, extensions=extensions)
        http = self.settings.http
        # The server's connection guard, as `streamhub serve` has it (tests read its counts).
        self.guard = ConnectionGuard(http.max_connections_per_address, http.header_timeout_s)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host="127.0.0.1",
                port=self.port,
                log_config=None,
                lifespan="on",
                **server_options(self.settings, self.guard),
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def recorder(self) -> RecorderService:
        """The hub's recorder (its plug-in), for tests that look inside."""
        found = [x for x in self.app.state.extensions if isinstance(x, RecorderService)]
        assert found, "this hub runs without its recorder"
        return found[0]

    @property
    def services(self) -> Any:
        return self.app.state.services

    async def __aenter__(self) -> InProcessHub:
        self._task = asyncio.get_running_loop().create_task(self.server.serve())
        # Generous: a fresh PostgreSQL catalog runs every migration first, and a loaded CI
        # machine took more than 20 s for it.
        deadline = time.monotonic() + 90
        while not self.server.started:
            if self._task.done():
                self._task.result()
            if time.monotonic() > deadline:
                raise RuntimeError("in-process hub did not start")
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, 20)


# Most tests' hub: no recorder (its own tests turn it on), and a join-rate limit that classrooms
# rejoining many times on purpose never reach (the limit has its own tests).
TEST_HUB: dict[str, Any] = {
    "recorder": {"enabled": False},
    "signaling": {"joins_per_minute": 1000},
}


class HubFactory(Protocol):
    def __call__(self, **overrides: Any) -> Awaitable[InProcessHub]: ...


@contextlib.asynccontextmanager
async def hub_factory(base: Path) -> AsyncIterator[HubFactory]:
    """Starts hubs under ``base`` (the first in ``base/hub``, as the tests always had it) and
    stops them all, last first, even when one fails to stop."""
    async with contextlib.AsyncExitStack() as stack:
        started = 0

        async def make(**overrides: Any) -> InProcessHub:
            nonlocal started
            started += 1
            data_dir = base / ("hub" if started == 1 else f"hub-{started}")
            return await stack.enter_async_context(InProcessHub(data_dir, **overrides))

        yield make


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@dataclass
class LessonSetup:
    lesson_id: int
    code: str
    lecturer_token: str
    classroom_ids: list[int]
    credentials: list[str]


class AdminApi:
    """Drives the hub's HTTP API the way the admin pages do."""

    def __init__(self, base_url: str, verify: ssl.SSLContext | bool = True) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url, headers=admin_headers(), timeout=15, verify=verify
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def post(self, path: str, json: Any = None) -> Any:
        response = await self.http.post(path, json=json)
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response.json() if response.content else None

    async def subject(self, name: str = "Mathematics") -> int:
        """The county's subject of this name (added if missing): lessons pick from the list."""
        made = await self.http.post("/api/subjects", json={"name": name})
        if made.status_code == 201:
            return int(made.json()["id"])
        assert made.status_code == 409, made.text
        listed = (await self.http.get("/api/subjects")).json()
        return int(next(s["id"] for s in listed if s["name"].casefold() == name.casefold()))

    async def lesson(
        self, classrooms: int = 1, start: bool = True, title: str = "Fractions"
    ) -> LessonSetup:
        school = await self.post("/api/schools", {"name": f"School {secrets.token_hex(3)}"})
        ids, creds = [], []
        for i in range(classrooms):
            room = await self.post(
                "/api/classrooms",
                {"name": f"Class {i + 1}", "school_id": school["id"], "region": "North"},
            )
            ids.append(room["id"])
            issued = await self.post(f"/api/classrooms/{room['id']}/device-credential")
            creds.append(issued["credential"])
        await self.subject("Mathematics")
        lesson = await self.post(
            "/api/lessons",
            {
                "title": title,
                "subject": "Mathematics",
                "lecturer_name": "Ms Li",
                "scheduled_start": "2026-11-24T08:00:00Z",
                "scheduled_end": "2026-11-24T09:00:00Z",
                "classroom_ids": ids,
            },
        )
        link = await self.post(f"/api/lessons/{lesson['id']}/lecturer-link")
        if start:
            await self.post(f"/api/lessons/{lesson['id']}/start")
        return LessonSetup(lesson["id"], lesson["join_code"], link["token"], ids, creds)

    async def device_token(self, credential: str, code: str | None = None) -> str:
        response = await self.http.post(
            "/api/device/token",
            json={"lesson_code": code},
            headers={"Authorization": f"Bearer {credential}"},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])
