"""One county network for the tests of this folder (made once, on first use): namespaces from
``tests.support.lan``, a CA and certificate from `streamhub tls init`, coturn on the TURN
address, and the hub serving HTTPS on 443 of its namespace (plain port 80 redirects), with
``ice.host_addresses: auto``, a UDP port range and coturn's URLs handed to clients.

The test process reaches the hub over the uplink (``https://<uplink>``); the school and the
office reach it on the LAN (``https://<hub address>``), as classroom PCs and lecturer PCs do.
Chromium runs inside a namespace through a wrapper script, trusting the test CA through its
own NSS database (never ``--ignore-certificate-errors``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.coturn import Coturn
from tests.support.hub import ADMIN_KEY, JWT_SECRET, AdminApi
from tests.support.lan import CountyLan, Host
from tests.support.netns import NetnsUnavailable

ROOT = Path(__file__).resolve().parents[2]
TURN_SECRET = "county-turn-secret-0123456789"
PORT_RANGE = (40000, 40099)
CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHUB_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@dataclass
class NamespacedHub:
    """`streamhub serve` inside a namespace."""

    host: Host
    data_dir: Path
    env: dict[str, str]
    ready_url: str
    verify: ssl.SSLContext | bool = True
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.data_dir / "hub.log"

    def start(self, timeout: float = 40.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*self.host.exec_prefix(), sys.executable, "-m", "streamhub", "serve"],
            env=child_env(**self.env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.ready_url, verify=self.verify, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hub did not become ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@dataclass
class County:
    lan: CountyLan
    work: Path
    ca: Path
    cert: Path
    key: Path
    turn: Coturn
    hub: NamespacedHub
    ssl_context: ssl.SSLContext
    extra: list[Any] = field(default_factory=list)

    @property
    def lan_url(self) -> str:
        """The hub as classroom and lecturer PCs reach it."""
        return f"https://{self.lan.hub.address}"

    @property
    def uplink_url(self) -> str:
        """The hub as this test process reaches it (the same address, over the uplink)."""
        return f"https://{self.lan.hub.address}"

    def admin(self) -> AdminApi:
        api = AdminApi(self.uplink_url)
        api.http = httpx.AsyncClient(
            base_url=self.uplink_url,
            headers=api.http.headers,
            timeout=15,
            verify=self.ssl_context,
        )
        return api


@pytest.fixture(scope="session")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    work = tmp_path_factory.mktemp("county")
    lan = CountyLan()
    turn: Coturn | None = None
    hub: NamespacedHub | None = None
    try:
        try:
            lan.open()
        except NetnsUnavailable as exc:
            pytest.skip(f"network namespaces unavailable here: {exc}")
        addresses = [lan.hub.address, lan.turn_address, lan.uplink_address]
        init = subprocess.run(
            [sys.executable, "-m", "streamhub", "tls", "init", "--name", "hub.county.test",
             *[arg for a in addresses for arg in ("--ip", a)], "--dir", str(work / "tls")],
            capture_output=True, text=True, timeout=60, env=child_env(),
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        tls = work / "tls"
        ca, cert, key = tls / "ca.crt", tls / "hub.crt", tls / "hub.key"
        turn = Coturn(
            lan.hub,
            lan.turn_address,
            work / "turn",
            secret=TURN_SECRET,
            cert=cert,
            key=key,
            allowed_peers=[lan.hub.address],
        )
        turn.start()
        context = ssl.create_default_context(cafile=str(ca))
        env = {
            "STREAMHUB_DATA_DIR": str(work / "hub"),
            "STREAMHUB_ADMIN_KEY": ADMIN_KEY,
            "STREAMHUB_JWT_SECRET": JWT_SECRET,
            # Its LAN address: the TURN server takes port 443 of its own address beside it.
            "STREAMHUB_HOST": lan.hub.address,
            "STREAMHUB_PORT": "443",
            "STREAMHUB_PUBLIC_URL": f"https://{lan.hub.address}",
            "STREAMHUB_TLS__CERT_FILE": str(cert),
            "STREAMHUB_TLS__KEY_FILE": str(key),
            "STREAMHUB_TLS__REDIRECT_HTTP_PORT": "80",
            "STREAMHUB_ICE__HOST_ADDRESSES": "auto",
            "STREAMHUB_ICE__UDP_PORT_RANGE": f"{PORT_RANGE[0]}-{PORT_RANGE[1]}",
            "STREAMHUB_ICE__TURN_SERVERS": json.dumps(
                [{"urls": turn.urls, "credential": TURN_SECRET}]
            ),
            "STREAMHUB_RECORDER__ENABLED": "false",
            "STREAMHUB_SIGNALING__JOINS_PER_MINUTE": "1000",
            "STREAMHUB_LOG_JSON": "false",
        }
        hub = NamespacedHub(
            lan.hub,
            work / "hub",
            env,
            ready_url=f"https://{lan.hub.address}/readyz",
            verify=context,
        )
        hub.start()
        yield County(lan, work, ca, cert, key, turn, hub, context)
    finally:
        if hub is not None:
            hub.stop()
        if turn is not None:
            turn.stop()
        lan.close()


def nss_home(base: Path, ca: Path) -> Path:
    """A HOME whose NSS database trusts ``ca`` for websites, as a lecturer PC would after
    installing the school's CA."""
    home = base / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    if not (db / "cert9.db").exists():
        subprocess.run(
            ["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, timeout=30
        )
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{db}", "-n", "county-test-ca", "-t", "C,,", "-i",
             str(ca)],
            check=True, timeout=30,
        )  # fmt: skip
    return home


def _chromium_in(host: Host, work: Path, ca: Path | None) -> tuple[Path, dict[str, str]]:
    wrapper = work / f"chromium-{host.namespace}.sh"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {host.namespace} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ)
    env["HOME"] = str(nss_home(work / host.namespace, ca) if ca else work / "plain-home")
    return wrapper, env


async def launch_chromium(playwright: Any, host: Host, work: Path, ca: Path | None) -> Any:
    """Chromium inside ``host``'s namespace (through a wrapper script), trusting ``ca``."""
    wrapper, env = await asyncio.to_thread(_chromium_in, host, work, ca)
    return await playwright.chromium.launch(
        executable_path=str(wrapper), headless=True, args=CHROMIUM_ARGS, env=env
    )


@pytest.fixture
async def playwright() -> AsyncIterator[Any]:
    api = pytest.importorskip("playwright.async_api")
    if not HAVE_CHROMIUM:
        pytest.skip("no chromium at /usr/bin/chromium")
    async with api.async_playwright() as p:
        yield p
