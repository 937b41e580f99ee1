"""ICE configuration: no STUN unless configured, TURN handed out with time-limited credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import time
from dataclasses import dataclass, field

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceCandidate, RTCIceServer
from aiortc.sdp import candidate_from_sdp

from streamhub.config import IceSettings
from streamhub.protocol import IceServer


def rtc_configuration(ice: IceSettings) -> RTCConfiguration:
    """The hub's own peer connections. An explicit list: aiortc falls back to a public STUN
    server when given None. No TURN: the hub is the reachable end (host addresses, or the
    announced address), so a relay on its side would only double every relayed packet's trip
    and the TURN server's load; a classroom's relay candidate pairs with the hub's host one."""
    servers = [RTCIceServer(urls=url) for url in ice.stun_servers]
    return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def turn_url_rank(url: str) -> int:
    """Fallback order of a TURN URL: UDP, then TCP, then TLS (443 gets through most school
    firewalls, but relays over TCP, the slowest)."""
    lowered = url.lower()
    if lowered.startswith("turns:"):
        return 2
    return 1 if "transport=tcp" in lowered else 0


def turn_credentials(ice: IceSettings, username: str, secret: str, who: str) -> tuple[str, str]:
    """Static credentials when a username is configured; otherwise the TURN REST scheme
    (username "expiry:who", password HMAC-SHA1 of it with the shared secret), so a leaked
    credential stops working after ``turn_credential_ttl_s``."""
    if username:
        return username, secret
    name = f"{int(time.time()) + ice.turn_credential_ttl_s}:{who}"
    digest = hmac.new(secret.encode(), name.encode(), hashlib.sha1).digest()
    return name, base64.b64encode(digest).decode()


def client_ice_servers(ice: IceSettings, who: str) -> list[IceServer]:
    """STUN servers, then one entry per TURN URL in fallback order (``turn_url_rank``), each
    with time-limited credentials. Browsers gather on every entry at once; aiortc clients use
    one TURN URL at a time and walk the list (``streamhub.client.ice_plans``)."""
    servers = [IceServer(urls=[url]) for url in ice.stun_servers]
    relays: list[tuple[int, int, IceServer]] = []
    for turn in ice.turn_servers:
        username, credential = turn_credentials(
            ice, turn.username, turn.credential.get_secret_value(), who
        )
        for url in turn.urls:
            server = IceServer(urls=[url], username=username, credential=credential)
            relays.append((turn_url_rank(url), len(relays), server))
    return servers + [server for _, _, server in sorted(relays, key=lambda r: r[:2])]


_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$")


def announce_address(sdp: str, host_addresses: list[str], announced: str | None) -> str:
    """Add a candidate on the announced (public, 1:1 NAT) address beside each host candidate."""
    if not announced:
        return sdp
    lines = []
    for line in sdp.splitlines():
        lines.append(line)
        match = _CANDIDATE.match(line)
        if match and match.group(2) in host_addresses:
            foundation, rest = match.group(1).split(" ", 1)
            lines.append(f"{foundation}a {rest}{announced}{match.group(3)}")
    return "\r\n".join(lines) + "\r\n"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class CandidatePolicy:
    """Which remote candidates the hub accepts from one participant: at most ``limit``
    distinct ones, on addresses a remote client can really have. Without it a client can make
    the hub send STUN checks to any address and port it names (loopback services, multicast).
    A refused candidate costs nothing: a client that sends its own checks is still found
    (aioice learns it as a peer-reflexive candidate)."""

    limit: int
    allowed: list[Network] = field(default_factory=list)
    seen: set[tuple[str, int, str]] = field(default_factory=set)

    @classmethod
    def from_settings(cls, ice: IceSettings) -> CandidatePolicy:
        networks = [ipaddress.ip_network(n, strict=False) for n in ice.allowed_remote_networks]
        return cls(ice.remote_candidates_max, networks)

    def refusal(self, candidate: RTCIceCandidate) -> str | None:
        """Why the candidate is refused, or None when it is accepted (and counted)."""
        try:
            address = ipaddress.ip_address(candidate.ip)
        except ValueError:
            # mDNS (.local) and other names: the hub cannot know where they lead.
            return f"candidate address {candidate.ip[:64]!r} is not an IP address"
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        special = (
            address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_unspecified
            or address.is_reserved
            or address == ipaddress.IPv4Address("255.255.255.255")
        )
        if special and not any(address in network for network in self.allowed):
            return f"candidate address {address} is not one a remote client can have"
        if not 0 < candidate.port < 65536:
            return "candidate port out of range"
        key = (str(address), candidate.port, candidate.protocol.lower())
        if key not in self.seen:
            if len(self.seen) >= self.limit:
                return f"more than {self.limit} candidates"
            self.seen.add(key)
        return None

    def filter_sdp(self, sdp: str) -> tuple[str, list[str]]:
        """The SDP without the candidate lines this policy refuses, and the refusals."""
        kept: list[str] = []
        refused: list[str] = []
        for line in sdp.splitlines():
            if line.startswith("a=candidate:"):
                try:
                    reason = self.refusal(candidate_from_sdp(line[len("a=candidate:") :]))
                except Exception:
                    reason = "malformed candidate"
                if reason is not None:
                    refused.append(reason)
                    continue
            kept.append(line)
        if refused:
            # With every candidate gone and end-of-candidates said, aioice fails the check
            # list at once; without it, it waits, and learns the client from its checks.
            kept = [line for line in kept if line != "a=end-of-candidates"]
        return "\r\n".join(kept) + "\r\n", refused
