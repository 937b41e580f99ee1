"""`streamhub serve --workers N`: one hub process per core behind one port.

A Python process forwards media on one core. With N workers, each is a whole hub node (its own
event loop, lessons, peer connections and recorder), named ``<node_id>-w<i>``:

- every worker listens on the hub's port with ``SO_REUSEPORT``, so the kernel spreads the
  connections (pages, API, signaling) over them;
- each also listens on its own port (``worker_ports``, default port + 1 + i), its node URL: a
  lesson's media lives in one process, and a join that lands on another worker is redirected
  there (``error {code: "redirect"}``, as between hub nodes, docs/scaling.md);
- they share live state (which worker holds which lesson, and its load) through Redis, so
  lessons spread over the workers.

How many by default (``workers: 0``): the number of cores when ``redis_url`` is set, or when
``redis-server`` is installed: this supervisor then starts one for the workers alone (a unix
socket in ``data_dir``, nothing on the network; stopped with the hub). Without either, one
process, as before, and the log says why: the README's one command always gives a working hub.

The supervisor makes the secrets and migrates the catalog (by starting worker 0 first), restarts
a worker that crashes, and stops them all on SIGTERM/SIGINT.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from streamhub.config import Settings

logger = logging.getLogger("streamhub.workers")

RESTARTS_PER_MINUTE = 5
STOP_GRACE_S = 25.0


@dataclass(frozen=True)
class Plan:
    count: int
    redis_url: str | None  # None with count > 1: start an embedded redis-server
    reason: str


def plan(settings: Settings, cores: int | None = None) -> Plan:
    """How many workers these settings get, and where their shared state lives."""
    cores = cores or os.cpu_count() or 1
    wanted = settings.workers or cores
    if wanted == 1:
        return Plan(1, settings.redis_url, "one worker")
    if settings.rtmp.enabled:
        # A push lands on whichever process holds the RTMP port, and a lesson's media live in
        # the one that holds the lesson: the bridge cannot hand a push to another worker.
        if settings.workers > 1:
            raise RuntimeError(
                "the RTMP bridge (rtmp.enabled) runs in a one-process hub: set workers: 1"
            )
        return Plan(1, settings.redis_url, "one worker: the RTMP bridge (rtmp.enabled) is on")
    if settings.redis_url:
        return Plan(wanted, settings.redis_url, f"{wanted} workers sharing {_safe(settings)}")
    if shutil.which("redis-server"):
        return Plan(wanted, None, f"{wanted} workers sharing an embedded redis-server")
    if settings.workers:
        raise RuntimeError(
            f"{settings.workers} workers need shared live state: set redis_url, or install "
            "redis-server (the hub then starts one for its workers)"
        )
    return Plan(1, None, "one worker: no redis_url set and no redis-server installed")


def _safe(settings: Settings) -> str:
    parts = urlsplit(settings.redis_url or "")
    return f"Redis at {parts.hostname or parts.path or '?'}"


def own_port(settings: Settings, index: int) -> int:
    if index < len(settings.worker_ports):
        return settings.worker_ports[index]
    # The ports after the hub's, leaving out the plain-HTTP redirect's (often the next one).
    taken = {settings.port, settings.tls.redirect_http_port}
    port, found = settings.port, -1
    while found < index:
        port += 1
        found += port not in taken
    return port


def node_url(settings: Settings, index: int) -> str:
    """The public URL with the worker's own port."""
    parts = urlsplit(settings.effective_public_url)
    host = parts.hostname or settings.host
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, f"{host}:{own_port(settings, index)}", "", "", ""))


def listening_sockets(settings: Settings, index: int) -> list[socket.socket]:
    """The shared port (SO_REUSEPORT) and the worker's own port."""
    sockets = []
    for port, shared in ((settings.port, True), (own_port(settings, index), False)):
        family, kind, proto, _, address = socket.getaddrinfo(
            settings.host, port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


# ------------------------------------------------------------------ the embedded Redis


class EmbeddedRedis:
    """A redis-server for this hub's workers only: a unix socket, no port, no persistence."""

    def __init__(self, data_dir: Path) -> None:
        run = data_dir.resolve() / "run"
        if len(str(run / "redis.sock")) > 100:  # a unix socket path has ~108 bytes at most
            run = Path(tempfile.mkdtemp(prefix="streamhub-redis-"))
        run.mkdir(parents=True, exist_ok=True)
        self.path = run / "redis.sock"
        self.url = f"unix://{self.path}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        server = shutil.which("redis-server")
        assert server is not None
        self.proc = subprocess.Popen(
            [
                server,
                "--port", "0",
                "--unixsocket", str(self.path),
                "--unixsocketperm", "700",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.path.parent),
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            if self._answers():
                return
            time.sleep(0.05)
        raise RuntimeError("the embedded redis-server did not start")

    def _answers(self) -> bool:
        if not self.path.exists():
            return False
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            try:
                sock.connect(str(self.path))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


# ------------------------------------------------------------------ the supervisor


class Supervisor:
    def __init__(
        self, settings: Settings, plan: Plan, argv: list[str], first_argv: list[str]
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.argv = argv  # serve's own options (--host, --port, --config, ...), passed on
        # Worker 0's own (--demo, --demo-reset, --admin-key-new): it presents the banner.
        self.first_argv = first_argv
        self.redis: EmbeddedRedis | None = None
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.restarts: list[float] = []
        self.stopping = False

    def _env(self, index: int, redis_url: str) -> dict[str, str]:
        env = dict(os.environ)
        base = self.settings.effective_node_id
        env.update(
            {
                "STREAMHUB_WORKERS": "1",
                "STREAMHUB_REDIS_URL": redis_url,
                "STREAMHUB_NODE_ID": f"{base}-w{index}",
                "STREAMHUB_NODE_URL": node_url(self.settings, index),
            }
        )
        # A page from the shared port may be sent to the worker that holds its lesson (its own
        # port): that worker's URL is another origin, which the pages' CSP and the origin check
        # must allow. (Every worker derives the same public URL from the same settings.)
        origins = [*self.settings.signaling.allowed_origins]
        origins += [node_url(self.settings, i) for i in range(self.plan.count)]
        env["STREAMHUB_SIGNALING__ALLOWED_ORIGINS"] = json.dumps(list(dict.fromkeys(origins)))
        # A join that lands on the wrong worker is relayed to the right one on this machine: a
        # school firewall may let out only the hub's port, never the workers' own.
        scheme = "wss" if self.settings.tls.enabled else "ws"
        relay = {
            node_url(
                self.settings, i
            ): f"{scheme}://{self._local_host()}:{own_port(self.settings, i)}/ws"
            for i in range(self.plan.count)
            if i != index
        }
        env["STREAMHUB_SIGNALING__RELAY"] = json.dumps(relay)
        return env

    def _start(self, index: int, redis_url: str) -> None:
        command = [sys.executable, "-m", "streamhub", "serve", *self.argv]
        command += ["--worker-index", str(index)]
        if index == 0:
            command += self.first_argv
            # A restarted worker 0 presents the demo again, but never resets it again, and the
            # admin key is no longer new.
            self.first_argv = [
                a for a in self.first_argv if a == "--demo" or a.startswith("--processes=")
            ]
        self.procs[index] = subprocess.Popen(command, env=self._env(index, redis_url))

    def _local_host(self) -> str:
        """Where this machine reaches its workers."""
        host = self.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return host

    def _wait_ready(self, index: int, timeout: float = 90.0) -> None:
        host = self._local_host()
        scheme = "https" if self.settings.tls.enabled else "http"
        url = f"{scheme}://{host}:{own_port(self.settings, index)}/readyz"
        # Our own worker on this machine: its certificate names the hub, not this address.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            proc = self.procs[index]
            if proc.poll() is not None:
                raise RuntimeError(f"worker {index} exited with {proc.returncode} while starting")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=1, context=context) as response:
                    if response.status == 200:
                        return
            time.sleep(0.1)
        if not self.stopping:
            raise RuntimeError(f"worker {index} did not become ready")

    def _signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._signal)
        try:
            redis_url = self.plan.redis_url
            if redis_url is None:
                self.redis = EmbeddedRedis(self.settings.data_dir)
                self.redis.start()
                redis_url = self.redis.url
            logger.info("starting %s", self.plan.reason)
            # Worker 0 alone first: it migrates the catalog and prints the demo links.
            self._start(0, redis_url)
            self._wait_ready(0)
            for index in range(1, self.plan.count if not self.stopping else 1):
                self._start(index, redis_url)
            return self._watch(redis_url)
        except RuntimeError as exc:
            print(f"streamhub: {exc}", file=sys.stderr, flush=True)  # noqa: T201
            return 1
        finally:
            self._stop_all()

    def _watch(self, redis_url: str) -> int:
        while not self.stopping:
            time.sleep(0.2)
            for index, proc in list(self.procs.items()):
                code = proc.poll()
                if code is None or self.stopping:
                    continue
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if now - t < 60] + [now]
                if len(self.restarts) > RESTARTS_PER_MINUTE:
                    logger.error("workers keep exiting (last: %d with %d): stopping", index, code)
                    return 1
                logger.warning("worker %d exited with %d: restarting it", index, code)
                if self.redis is not None and self.redis.proc is not None:
                    if self.redis.proc.poll() is not None:
                        self.redis.start()
                self._start(index, redis_url)
        return 0

    def _stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.redis is not None:
            self.redis.stop()
