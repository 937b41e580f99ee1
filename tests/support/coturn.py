"""A real coturn (Debian's ``turnserver``) confined to one address of a test namespace (or to
loopback, with ``host=None``).

coturn listens and relays on every interface unless told otherwise: here it listens on
``address`` only (UDP/TCP ``port``, TLS ``tls_port``), relays from that address only, and may
relay only to ``allowed_peers`` (every other peer address is denied), so the test's TURN
traffic stays among the addresses the test made. Authentication is the TURN REST shared secret
the hub signs its credentials with.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support.lan import Host
from tests.support.netns import NetnsUnavailable

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"


class Coturn:
    def __init__(
        self,
        host: Host | None,
        address: str,
        workdir: Path,
        *,
        secret: str,
        cert: Path,
        key: Path,
        allowed_peers: list[str],
        port: int = 3478,
        tls_port: int = 443,
        relay_ports: tuple[int, int] = (49152, 49251),
    ) -> None:
        self.host = host
        self.address = address
        self.workdir = workdir
        self.secret = secret
        self.cert, self.key = cert, key
        self.allowed_peers = allowed_peers
        self.port, self.tls_port = port, tls_port
        self.relay_ports = relay_ports
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "turnserver.log"

    @property
    def urls(self) -> list[str]:
        return [
            f"turn:{self.address}:{self.port}?transport=udp",
            f"turns:{self.address}:{self.tls_port}?transport=tcp",
        ]

    def config(self) -> str:
        lines = [
            f"listening-ip={self.address}",
            f"relay-ip={self.address}",
            f"listening-port={self.port}",
            f"tls-listening-port={self.tls_port}",
            f"min-port={self.relay_ports[0]}",
            f"max-port={self.relay_ports[1]}",
            "use-auth-secret",
            f"static-auth-secret={self.secret}",
            "realm=streamhub.test",
            f"cert={self.cert}",
            f"pkey={self.key}",
            "fingerprint",
            "no-cli",
            "no-dtls",
            "no-tcp-relay",
            "no-multicast-peers",
            "no-software-attribute",
            "no-rfc5780",
            "no-stun-backward-compatibility",
            # Relay to the listed peers only (allowed-peer-ip beats denied-peer-ip).
            "denied-peer-ip=0.0.0.0-255.255.255.255",
            "denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            *(f"allowed-peer-ip={peer}" for peer in self.allowed_peers),
            f"userdb={self.workdir / 'turndb'}",
            f"pidfile={self.workdir / 'turnserver.pid'}",
            f"log-file={self.log}",
            "simple-log",
        ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 20.0) -> None:
        if not Path(TURNSERVER).exists():
            raise NetnsUnavailable("coturn (`turnserver`) is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "turnserver.conf"
        conf.write_text(self.config())
        prefix = self.host.exec_prefix() if self.host is not None else []
        # The server writes to its own copy of the descriptor: ours is closed once it runs.
        with (self.workdir / "turnserver.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [*prefix, TURNSERVER, "-c", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        wanted = {f"{self.address}:{self.port}", f"{self.address}:{self.tls_port}"}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnserver exited: {self.output()}")
            listening = subprocess.run(
                [*prefix, "ss", "-Hltn"], capture_output=True, text=True, timeout=10
            ).stdout
            if all(w in listening for w in wanted):
                return
            time.sleep(0.1)
        raise RuntimeError(f"turnserver did not listen on {wanted}: {self.output()}")

    def output(self) -> str:
        text = ""
        for path in (self.workdir / "turnserver.out", self.log):
            if path.exists():
                text += path.read_text(errors="replace")[-3000:]
        return text

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
