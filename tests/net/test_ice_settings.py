"""ICE settings and the client's TURN plans, without a network: `auto` host addresses, the UDP
port range's forms, the order TURN URLs reach clients in, and the plans an aiortc client walks."""

from __future__ import annotations

import pytest

from streamhub.client.ice_plans import IcePlan, ice_plans, rank
from streamhub.config import IceSettings, TurnServer, load_settings
from streamhub.errors import ConfigError
from streamhub.interfaces import interface_addresses
from streamhub.media.ice import client_ice_servers, rtc_configuration
from streamhub.media.turn_probe import TurnProbe


def test_auto_host_addresses_are_the_machines_own_non_loopback_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = interface_addresses()
    assert "127.0.0.1" not in found and "::1" not in found
    assert not any(a.startswith("fe80:") for a in found)
    monkeypatch.setenv("STREAMHUB_ICE__HOST_ADDRESSES", "auto")
    if found:
        assert load_settings(None).ice.host_addresses == found
    monkeypatch.setenv("STREAMHUB_ICE__HOST_ADDRESSES", '["127.0.0.1", "auto"]')
    if found:
        assert load_settings(None).ice.host_addresses == ["127.0.0.1", *found]
    monkeypatch.setattr("streamhub.interfaces.interface_addresses", lambda: [])
    with pytest.raises(ConfigError, match="found no non-loopback interface address"):
        load_settings(None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("40000-40199", (40000, 40199)), ("[40000, 40199]", (40000, 40199))],
)
def test_the_port_range_reads_as_text_or_a_pair(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[int, int]
) -> None:
    monkeypatch.setenv("STREAMHUB_ICE__UDP_PORT_RANGE", value)
    assert load_settings(None).ice.udp_port_range == expected


@pytest.mark.parametrize("value", ["40199-40000", "80-90", "40000", "a-b"])
def test_a_bad_port_range_names_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STREAMHUB_ICE__UDP_PORT_RANGE", value)
    with pytest.raises(ConfigError, match=r"ice\.udp_port_range"):
        load_settings(None)


def test_clients_get_turn_urls_udp_first_then_tcp_then_tls_and_the_hub_none() -> None:
    ice = IceSettings(
        turn_servers=[
            TurnServer(
                urls=["turns:t.example:443?transport=tcp", "turn:t.example:3478?transport=tcp"],
                credential="secret",
            ),
            TurnServer(urls=["turn:t.example:3478?transport=udp"], credential="secret"),
        ]
    )
    urls = [s.urls[0] for s in client_ice_servers(ice, "cls-1")]
    assert urls == [
        "turn:t.example:3478?transport=udp",
        "turn:t.example:3478?transport=tcp",
        "turns:t.example:443?transport=tcp",
    ]
    # The hub is the reachable end: it gathers no relay of its own.
    assert rtc_configuration(ice).iceServers == []


def test_plans_are_one_turn_url_each_then_direct_and_failed_relays_are_left_out() -> None:
    ice = IceSettings(
        stun_servers=["stun:s.example:3478"],
        turn_servers=[
            TurnServer(
                urls=["turn:t.example:3478?transport=udp", "turns:t.example:443?transport=tcp"],
                credential="secret",
            )
        ],
    )
    plans = ice_plans(client_ice_servers(ice, "cls-1"))
    assert [p.turn_url for p in plans] == [
        "turn:t.example:3478?transport=udp",
        "turns:t.example:443?transport=tcp",
        None,
    ]
    # Every plan keeps the STUN server and carries at most one TURN URL (aioice uses one).
    assert all(p.servers[0].urls == ["stun:s.example:3478"] for p in plans)
    assert [len(p.servers) for p in plans] == [2, 2, 1]

    def probe(url: str, ok: bool) -> TurnProbe:
        return TurnProbe(url, "", ok, None, None if ok else "no answer", 0.0)

    udp, tls = plans[0].turn_url, plans[1].turn_url
    assert udp is not None and tls is not None
    behind_firewall = rank(plans, {udp: probe(udp, False), tls: probe(tls, True)})
    assert [p.turn_url for p in behind_firewall] == [tls, None]
    assert rank(plans, {udp: probe(udp, True), tls: probe(tls, True)}) == plans
    assert isinstance(behind_firewall[0], IcePlan)
