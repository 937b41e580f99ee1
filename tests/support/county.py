"""A county network with its services, for tests/net and bench/turn.py: the namespaces of
``tests.support.lan``, a CA and certificate from `streamhub tls init`, coturn on the TURN
address, and the hub serving HTTPS on 443 of its LAN address (plain port 80 redirects), with
``ice.host_addresses: auto``, a UDP port range and coturn's URLs handed to clients.

The test process reaches the hub at its LAN address over the uplink (``County.uplink_url``);
the school and the office reach it on the LAN (``County.lan_url``), as classroom and lecturer
PCs do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import Slot
from tests.support.coturn import Coturn
from tests.support.hub import ADMIN_KEY, JWT_SECRET, AdminApi
from tests.support.lan import CountyLan, Host

ROOT = Path(__file__).resolve().parents[2]
TURN_SECRET = "county-turn-secret-0123456789"
PORT_RANGE = (40000, 40099)


def plain_hub(host: Host, data_dir: Path, port: int, **env: str) -> NamespacedHub:
    """A hub without TLS of its own on ``host``'s address (not started)."""
    settings = {
        "STREAMHUB_DATA_DIR": str(data_dir),
        "STREAMHUB_ADMIN_KEY": ADMIN_KEY,
        "STREAMHUB_JWT_SECRET": JWT_SECRET,
        "STREAMHUB_HOST": host.address,
        "STREAMHUB_PORT": str(port),
        "STREAMHUB_ICE__HOST_ADDRESSES": host.address,
        "STREAMHUB_RECORDER__ENABLED": "false",
        "STREAMHUB_LOG_JSON": "false",
        **env,
    }
    return NamespacedHub(host, data_dir, settings, f"http://{host.address}:{port}/readyz")


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
        # The hub writes to its own copy of the descriptor: ours is closed once it runs.
        with self.log.open("ab") as out:
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

    def client(self, token: str, codecs: tuple[str, ...] = ("VP8", "opus")) -> LessonClient:
        """A client in the test process, reaching the hub over the uplink (``codecs``: the
        agent's, ``H264`` first, to join a lesson a browser lecturer started)."""
        return LessonClient(
            self.uplink_url,
            token,
            codecs=codecs,
            ice_host_addresses=(self.lan.root_address,),
            ssl_context=self.ssl_context,
        )

    async def lecturer(self, token: str, width: int = 320, height: int = 240) -> LessonClient:
        """A lecturer teaching from the test process: a 30 fps pattern and a tone."""
        lecturer = self.client(token)
        camera = PatternVideoTrack(width, height, fps=30)
        await lecturer.connect({Slot.CAMERA: camera, Slot.MICROPHONE: ToneAudioTrack()})
        return lecturer

    def admin(self) -> AdminApi:
        return AdminApi(self.uplink_url, verify=self.ssl_context)


@contextlib.contextmanager
def open_county(work: Path) -> Iterator[County]:
    """The county network, its TLS files, coturn and the hub, all removed on exit.

    Raises NetnsUnavailable when namespaces cannot be made here."""
    lan = CountyLan()
    turn: Coturn | None = None
    hub: NamespacedHub | None = None
    try:
        lan.open()
        addresses = [lan.hub.address, lan.turn_address, lan.proxy_address, lan.uplink_address]
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
