"""ICE configuration: no STUN unless configured, TURN handed out with time-limited credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

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
