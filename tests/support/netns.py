"""A private network namespace joined to the root namespace by one impaired link.

``ImpairedLink`` creates a namespace (``shnt-<pid>-<token>``) with loopback up and one
point-to-point link to the root namespace: host side ``10.241.X.Y+1``, namespace side
``10.241.X.Y+2`` (a /30 picked at random among the ones not in use). Nothing else is routed
into the namespace, so what runs there can only reach the root namespace's end of the link.

Impairments (loss %, delay ± jitter, a rate cap with a bounded queue) apply to both directions
or to one (``direction``). Two back ends give the same interface:

* ``netem``: a veth pair with ``tc netem`` (and ``tbf`` for the rate cap) on each end;
* ``userspace``: when the kernel has no ``sch_netem``, two TUN devices joined by a small
  packet forwarder (this file run as a script) that drops, delays and paces packets itself.

Everything is removed on exit (the namespace, the veth pair; TUN devices vanish with the
forwarder process). Names carry the owner's pid, so ``cleanup_stale`` removes only what dead
runs left behind and parallel runs never collide.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import json
import os
import random
import re
import secrets
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

PREFIX = "shnt"
IF_PREFIX = "shl"  # interface names: shl<token6>h / shl<token6>n (15 characters at most)
SUBNET = (10, 241)


class NetnsUnavailable(RuntimeError):
    """The kernel or the user's privileges do not allow namespaces or links."""


@dataclass(frozen=True)
class Impairment:
    loss_pct: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_kbit: float | None = None
    queue_ms: float = 200.0  # a rate-capped link drops what would wait longer than this
    direction: str = "both"  # "down" (towards the namespace), "up" (out of it) or "both"

    def applies(self, direction: str) -> bool:
        return self.direction in ("both", direction)

    def describe(self) -> str:
        parts = []
        if self.loss_pct:
            parts.append(f"loss {self.loss_pct:g}%")
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms:g}±{self.jitter_ms:g} ms")
        if self.rate_kbit:
            parts.append(f"rate {self.rate_kbit:g} kbit/s")
        if parts and self.direction != "both":
            parts.append(f"{self.direction} only")
        return ", ".join(parts) or "clean"


CLEAN = Impairment()


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, args, result.stdout, result.stderr)
    return result


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    out = _run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _links() -> list[str]:
    out = _run("ip", "-o", "link", "show", check=False).stdout
    return [m.group(1) for m in re.finditer(r"^\d+: ([^:@\s]+)", out, re.MULTILINE)]


def cleanup_stale(prefix: str = PREFIX) -> list[str]:
    """Remove namespaces (and stray root-side links) left by runs whose process is gone."""
    removed = []
    live_tokens = set()
    for name in _namespaces():
        match = re.fullmatch(rf"{re.escape(prefix)}-(\d+)-([0-9a-f]+)", name)
        if not match:
            continue
        if _pid_alive(int(match.group(1))):
            live_tokens.add(match.group(2))
            continue
        _run("ip", "netns", "del", name, check=False)
        removed.append(name)
    for link in _links():
        match = re.fullmatch(rf"{IF_PREFIX}([0-9a-f]{{6}})[hn]", link)
        if match and match.group(1) not in live_tokens:
            # A veth left half-made by a crash before it moved into its namespace.
            _run("ip", "link", "del", link, check=False)
            removed.append(link)
    return removed


def netem_available() -> bool:
    """Whether ``tc qdisc add ... netem`` works here (probed on a throwaway veth pair)."""
    if shutil.which("tc") is None:
        return False
    token = secrets.token_hex(3)
    a, b = f"{IF_PREFIX}{token}h", f"{IF_PREFIX}{token}n"
    if _run("ip", "link", "add", a, "type", "veth", "peer", "name", b, check=False).returncode:
        return False
    try:
        return (
            _run(
                "tc", "qdisc", "add", "dev", a, "root", "netem", "delay", "1ms", check=False
            ).returncode
            == 0
        )
    finally:
        _run("ip", "link", "del", a, check=False)


def _pick_subnet() -> tuple[str, str]:
    used = _run("ip", "-o", "-4", "addr", "show", check=False).stdout
    for _ in range(200):
        third, block = random.randrange(256), random.randrange(64) * 4
        host = f"{SUBNET[0]}.{SUBNET[1]}.{third}.{block + 1}"
        peer = f"{SUBNET[0]}.{SUBNET[1]}.{third}.{block + 2}"
        if f" {host}/" not in used and f" {peer}/" not in used and f"peer {peer}" not in used:
            return host, peer
    raise NetnsUnavailable("no free /30 in 10.241.0.0/16")


class ImpairedLink:
    """Context manager: a namespace behind an impaired link. See the module docstring."""

    def __init__(self, prefix: str = PREFIX, backend: str = "auto") -> None:
        self.prefix = prefix
        self.token = secrets.token_hex(3)
        self.name = f"{prefix}-{os.getpid()}-{self.token}"
        self.host_if = f"{IF_PREFIX}{self.token}h"
        self.ns_if = f"{IF_PREFIX}{self.token}n"
        self.host_address = ""
        self.ns_address = ""
        self.backend = backend
        self.impairment = CLEAN
        self._shaper: subprocess.Popen[str] | None = None
        self._created = False

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> ImpairedLink:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        if os.geteuid() != 0:
            raise NetnsUnavailable("network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
        if shutil.which("ip") is None:
            raise NetnsUnavailable("iproute2 (`ip`) is not installed")
        cleanup_stale(self.prefix)
        result = _run("ip", "netns", "add", self.name, check=False)
        if result.returncode != 0:
            raise NetnsUnavailable(f"`ip netns add` failed: {result.stderr.strip()}")
        self._created = True
        self.netns("ip", "link", "set", "lo", "up")
        if self.backend == "auto":
            self.backend = "netem" if netem_available() else "userspace"
        self.host_address, self.ns_address = _pick_subnet()
        if self.backend == "netem":
            self._open_veth()
        elif self.backend == "userspace":
            self._open_tun()
        else:
            raise ValueError(f"unknown backend {self.backend!r}")

    def _open_veth(self) -> None:
        _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        _run("ip", "link", "set", self.ns_if, "netns", self.name)
        _run("ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_if)
        _run("ip", "link", "set", self.host_if, "up")
        self.netns("ip", "addr", "add", f"{self.ns_address}/30", "dev", self.ns_if)
        self.netns("ip", "link", "set", self.ns_if, "up")

    def _open_tun(self) -> None:
        self._shaper = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "shaper", self.host_if, self.ns_if],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._reply()  # the forwarder has created both TUN devices (and holds them)
        _run("ip", "link", "set", self.ns_if, "netns", self.name)
        _run("ip", "addr", "add", self.host_address, "peer", self.ns_address, "dev", self.host_if)
        _run("ip", "link", "set", self.host_if, "up")
        self.netns(
            "ip", "addr", "add", self.ns_address, "peer", self.host_address, "dev", self.ns_if
        )
        self.netns("ip", "link", "set", self.ns_if, "up")

    def close(self) -> None:
        shaper, self._shaper = self._shaper, None
        if shaper is not None:
            with contextlib.suppress(OSError, ValueError):
                assert shaper.stdin is not None
                shaper.stdin.close()
            try:
                shaper.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(shaper.pid, signal.SIGKILL)
                shaper.wait(5)
            if shaper.stdout is not None:
                shaper.stdout.close()
        if self._created:
            _run("ip", "netns", "del", self.name, check=False)
            self._created = False
        if self.host_if in _links():
            _run("ip", "link", "del", self.host_if, check=False)

    # ------------------------------------------------------------ use

    def netns(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", self.name, *args)

    def exec_prefix(self) -> list[str]:
        """Prefix a command with this to run it inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def apply(self, impairment: Impairment) -> None:
        self.impairment = impairment
        if self.backend == "userspace":
            self._command(asdict(impairment))
            return
        for ns in (None, self.name):
            dev = self.ns_if if ns else self.host_if
            prefix = ["ip", "netns", "exec", ns] if ns else []
            _run(*prefix, "tc", "qdisc", "del", "dev", dev, "root", check=False)
            # The host end's egress is the way down into the namespace.
            if impairment == CLEAN or not impairment.applies("up" if ns else "down"):
                continue
            for command in _tc_commands(dev, impairment):
                _run(*prefix, *command)

    def clear(self) -> None:
        self.apply(CLEAN)

    def stats(self) -> dict[str, Any]:
        """Packets seen and dropped per direction (userspace back end; {} with netem)."""
        if self.backend != "userspace":
            return {}
        return self._command({"cmd": "stats"})

    def _command(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._shaper is not None and self._shaper.stdin is not None
        self._shaper.stdin.write(json.dumps(message) + "\n")
        self._shaper.stdin.flush()
        return self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self._shaper is not None and self._shaper.stdout is not None
        line = self._shaper.stdout.readline()
        if not line:
            code = self._shaper.wait(5)
            raise NetnsUnavailable(f"the userspace link forwarder exited ({code})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise NetnsUnavailable(f"userspace link forwarder: {reply['error']}")
        return reply


def _tc_commands(dev: str, imp: Impairment) -> list[list[str]]:
    """tbf (rate, bounded queue) at the root with netem (loss, delay) under it, or netem alone."""
    netem = ["netem", "limit", "10000"]
    if imp.delay_ms:
        netem += ["delay", f"{imp.delay_ms:g}ms"]
        if imp.jitter_ms:
            netem += [f"{imp.jitter_ms:g}ms"]
    if imp.loss_pct:
        netem += ["loss", f"{imp.loss_pct:g}%"]
    if imp.rate_kbit:
        burst = max(int(imp.rate_kbit * 1000 / 8 / 50), 3200)  # ~20 ms of data, ≥ 2 MTUs
        tbf = ["tbf", "rate", f"{imp.rate_kbit:g}kbit", "burst", str(burst)]
        tbf += ["latency", f"{imp.queue_ms:g}ms"]
        commands = [["tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", *tbf]]
        if imp.delay_ms or imp.loss_pct:
            commands.append(
                ["tc", "qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:", *netem]
            )
        return commands
    return [["tc", "qdisc", "add", "dev", dev, "root", *netem]]


# ---------------------------------------------------------------- userspace forwarder

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class _Direction:
    def __init__(self, name: str, src: int, dst: int) -> None:
        self.name = name
        self.src, self.dst = src, dst
        self.heap: list[tuple[float, int, bytes]] = []
        self.busy_until = 0.0
        self.seq = 0
        self.counts = {"in": 0, "out": 0, "lost": 0, "overflow": 0, "error": 0}

    def take(self, data: bytes, now: float, imp: Impairment) -> None:
        self.counts["in"] += 1
        if not imp.applies(self.name):
            imp = CLEAN
        if imp.loss_pct and random.random() * 100 < imp.loss_pct:
            self.counts["lost"] += 1
            return
        depart = now
        if imp.rate_kbit:
            start = max(now, self.busy_until)
            if start - now > imp.queue_ms / 1000:
                self.counts["overflow"] += 1
                return
            self.busy_until = start + len(data) * 8 / (imp.rate_kbit * 1000)
            depart = self.busy_until
        delay = imp.delay_ms + (
            random.uniform(-imp.jitter_ms, imp.jitter_ms) if imp.jitter_ms else 0
        )
        release = depart + max(delay, 0.0) / 1000
        self.seq += 1
        heapq.heappush(self.heap, (release, self.seq, data))

    def release(self, now: float) -> None:
        while self.heap and self.heap[0][0] <= now:
            _, _, data = heapq.heappop(self.heap)
            try:
                os.write(self.dst, data)
                self.counts["out"] += 1
            except OSError:
                self.counts["error"] += 1


def _shaper(host_if: str, ns_if: str) -> int:
    try:
        host_fd, ns_fd = _open_tun(host_if), _open_tun(ns_if)
    except OSError as exc:
        _say({"error": f"cannot open TUN devices: {exc}"})
        return 1
    directions = {
        "down": _Direction("down", host_fd, ns_fd),
        "up": _Direction("up", ns_fd, host_fd),
    }
    impairment = CLEAN
    selector = selectors.DefaultSelector()
    selector.register(host_fd, selectors.EVENT_READ, directions["down"])
    selector.register(ns_fd, selectors.EVENT_READ, directions["up"])
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    _say({"ready": True})
    while True:
        now = time.monotonic()
        due = [d.heap[0][0] for d in directions.values() if d.heap]
        timeout = max(min(due) - now, 0.0) if due else 1.0
        for key, _ in selector.select(timeout):
            direction = key.data
            if direction is None:
                line = sys.stdin.readline()
                if not line:
                    return 0  # the owner closed our stdin (or died): the TUN devices go with us
                message = json.loads(line)
                if message.pop("cmd", None) == "stats":
                    reply = {name: d.counts for name, d in directions.items()}
                else:
                    impairment = Impairment(**message)
                    reply = {"applied": impairment.describe()}
                _say(reply)
                continue
            for _ in range(256):
                try:
                    data = os.read(direction.src, 65535)
                except BlockingIOError:
                    break
                direction.take(data, time.monotonic(), impairment)
        now = time.monotonic()
        for direction in directions.values():
            direction.release(now)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "shaper":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.exit(_shaper(sys.argv[2], sys.argv[3]))
    sys.stderr.write("usage: netns.py shaper HOST_IF NS_IF\n")
    sys.exit(2)
