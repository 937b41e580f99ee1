"""A county network in network namespaces: the hub's server room, a school, a lecturer's office.

``CountyLan`` creates three namespaces (``shlan-<pid>-<token><a|b|c>``)::

    root namespace (the tests) --uplink /30-- [hub]  bridge 10.243.N.0/24
                                                     .1 the hub, .2 the TURN server,
                                                     .3 a reverse proxy
                                     [school] .10 ---/
                                     [office] .20 ---/

The hub namespace holds a bridge that the school and the office hang on, and a point-to-point
uplink to the root namespace (``10.244.M.1`` root side, ``10.244.M.2`` hub side, plus routes to
the hub's and the proxy's LAN addresses over it) so that the test process can reach those two,
and only those: the hub namespace forwards nothing, so nothing gets from the root namespace
into the LAN, nor from the LAN out, and the rest of the LAN's subnet is unreachable from the
root namespace. Everything a test starts with ``exec_prefix`` can only talk to addresses made
here. ``block_udp`` gives a namespace the firewall of a school that lets
out only TCP to port 443 (nftables inside that namespace).

Everything is removed on exit: deleting the namespaces deletes their links. Names carry the
owner's pid, so ``cleanup_stale("shlan")`` (run on open) removes only what dead runs left.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import subprocess
from dataclasses import dataclass

from tests.support.netns import NetnsUnavailable, cleanup_stale

PREFIX = "shlan"


def _run(*args: str, check: bool = True, stdin: str | None = None) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=20, input=stdin)
    if check and result.returncode != 0:
        raise NetnsUnavailable(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _free_octets() -> tuple[int, int]:
    used = _run("ip", "-o", "-4", "addr", "show", check=False)
    for _ in range(200):
        lan, link = random.randrange(256), random.randrange(64) * 4
        if f" 10.243.{lan}." not in used and f" 10.244.{lan}.{link + 1}/" not in used:
            return lan, link
    raise NetnsUnavailable("no free subnet in 10.243.0.0/16")


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]

    def run(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        return _run(*self.exec_prefix(), *args, check=check, stdin=stdin)


class CountyLan:
    def __init__(self) -> None:
        self.token = secrets.token_hex(3)
        base = f"{PREFIX}-{os.getpid()}-{self.token}"
        lan, link = _free_octets()
        net = f"10.243.{lan}"
        self.hub = Host(f"{base}a", f"{net}.1")
        self.turn_address = f"{net}.2"
        self.proxy_address = f"{net}.3"
        self.school = Host(f"{base}b", f"{net}.10")
        self.office = Host(f"{base}c", f"{net}.20")
        self.root_address = f"10.244.{lan}.{link + 1}"
        self.uplink_address = f"10.244.{lan}.{link + 2}"
        self.lan_subnet = f"{net}.0/24"
        self._made: list[str] = []
        self._unreachable = False

    def __enter__(self) -> CountyLan:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def namespaces(self) -> list[Host]:
        return [self.hub, self.school, self.office]

    def open(self) -> None:
        if os.geteuid() != 0:
            raise NetnsUnavailable("network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
        if shutil.which("ip") is None:
            raise NetnsUnavailable("iproute2 (`ip`) is not installed")
        cleanup_stale(PREFIX)
        for host in self.namespaces:
            _run("ip", "netns", "add", host.namespace)
            self._made.append(host.namespace)
            host.run("ip", "link", "set", "lo", "up")
        hub = self.hub
        hub.run("ip", "link", "add", "br0", "type", "bridge")
        hub.run("ip", "addr", "add", f"{hub.address}/24", "dev", "br0")
        hub.run("ip", "addr", "add", f"{self.turn_address}/24", "dev", "br0")
        hub.run("ip", "addr", "add", f"{self.proxy_address}/24", "dev", "br0")
        hub.run("ip", "link", "set", "br0", "up")
        for host, side in ((self.school, "vs"), (self.office, "vo")):
            # Made inside the hub namespace, one end moved out: no stray link in the root one.
            hub.run("ip", "link", "add", side, "type", "veth", "peer", "name", "eth0")
            hub.run("ip", "link", "set", "eth0", "netns", host.namespace)
            hub.run("ip", "link", "set", side, "master", "br0")
            hub.run("ip", "link", "set", side, "up")
            host.run("ip", "addr", "add", f"{host.address}/24", "dev", "eth0")
            host.run("ip", "link", "set", "eth0", "up")
        uplink = f"slu{self.token}"
        _run("ip", "link", "add", uplink, "type", "veth", "peer", "name", "up0")
        _run("ip", "link", "set", "up0", "netns", hub.namespace)
        _run("ip", "addr", "add", f"{self.root_address}/30", "dev", uplink)
        _run("ip", "link", "set", uplink, "up")
        hub.run("ip", "addr", "add", f"{self.uplink_address}/30", "dev", "up0")
        hub.run("ip", "link", "set", "up0", "up")
        # The test process reaches the hub's LAN address (where it serves HTTPS, beside the
        # TURN server's 443) over the uplink; the hub namespace forwards nothing further.
        for address in (hub.address, self.proxy_address):
            _run("ip", "route", "add", f"{address}/32", "via", self.uplink_address, "dev", uplink)
        # Any other LAN address is unreachable from the root namespace, instead of going out
        # by its default route (a test's client there may try the TURN server's address).
        _run("ip", "route", "add", "unreachable", self.lan_subnet)
        self._unreachable = True

    def close(self) -> None:
        for name in reversed(self._made):
            _run("ip", "netns", "del", name, check=False)
        self._made.clear()
        # The uplink's root end goes with its peer; make sure a half-made one does too.
        _run("ip", "link", "del", f"slu{self.token}", check=False)
        if self._unreachable:
            _run("ip", "route", "del", "unreachable", self.lan_subnet, check=False)
            self._unreachable = False

    def block_udp(
        self, host: Host, tcp_ports: tuple[int, ...] = (443,), udp_ports: tuple[int, ...] = ()
    ) -> None:
        """The school firewall: drop all UDP (but to ``udp_ports``) and all TCP except to
        ``tcp_ports``, both ways (answers to what it let out come back)."""
        if shutil.which("nft") is None:
            raise NetnsUnavailable("nftables (`nft`) is not installed")
        ports = ", ".join(str(p) for p in tcp_ports)
        udp = f"udp dport {{ {', '.join(str(p) for p in udp_ports)} }} accept" if udp_ports else ""
        rules = f"""
table inet school {{
  chain out {{
    type filter hook output priority 0; policy drop;
    oif "lo" accept
    ct state established,related accept
    tcp dport {{ {ports} }} accept
    {udp}
  }}
  chain in {{
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state established,related accept
  }}
}}
"""
        host.run("nft", "-f", "-", stdin=rules)

    def unblock(self, host: Host) -> None:
        host.run("nft", "delete", "table", "inet", "school", check=False)
