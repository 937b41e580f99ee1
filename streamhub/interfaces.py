"""The machine's own addresses, for ``ice.host_addresses: auto``."""

from __future__ import annotations

import ipaddress

import ifaddr


def interface_addresses() -> list[str]:
    """Non-loopback, non-link-local unicast addresses of this machine's interfaces, IPv4 first
    (what aioice itself would gather on, minus what a remote peer can never reach)."""
    v4: list[str] = []
    v6: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if address.is_loopback or address.is_link_local or address.is_multicast:
                continue
            (v4 if address.version == 4 else v6).append(str(address))
    return list(dict.fromkeys(v4 + v6))


def expand_host_addresses(configured: list[str]) -> list[str]:
    """Replace "auto" by the interface addresses; raise ValueError if it finds none."""
    if "auto" not in configured:
        return configured
    found = interface_addresses()
    if not found:
        raise ValueError(
            "'auto' found no non-loopback interface address on this machine: list the "
            "addresses classrooms reach the hub on"
        )
    expanded: list[str] = []
    for address in configured:
        expanded.extend(found if address == "auto" else [address])
    return list(dict.fromkeys(expanded))
