"""configs/compose.yaml's HTTPS and TURN parts, checked structurally (no Docker here): Caddy in
front of both hubs, coturn on UDP 3478 and TLS 443 relaying to the hub only, with the shared
secret the hubs sign TURN credentials with, and the hubs' TURN URLs and media port ranges."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamhub.config import TurnServer

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def stand_ins(text: str) -> str:
    """What compose would substitute, for a deployment with these values."""
    values = {"HUB_TURN_IP": "192.0.2.4", "HUB_TURN_NAME": "turn.example", "TURN_SECRET": "s"}
    return re.sub(r"\$\{(\w+)[^}]*\}", lambda m: values.get(m.group(1), "x"), text)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    data = yaml.safe_load((CONFIGS / "compose.yaml").read_text(encoding="utf-8"))
    return dict(data["services"])


def test_coturn_listens_on_3478_and_tls_443_and_relays_to_the_hub_only(
    services: dict[str, Any],
) -> None:
    coturn = services["coturn"]
    args = dict(a.removeprefix("--").split("=", 1) for a in coturn["command"] if "=" in a)
    flags = {a.removeprefix("--") for a in coturn["command"] if "=" not in a}
    assert args["listening-port"] == "3478" and args["tls-listening-port"] == "443"
    assert args["listening-ip"] == args["relay-ip"] == "${HUB_TURN_IP}"
    assert "use-auth-secret" in flags and args["static-auth-secret"] == "${TURN_SECRET}"
    assert args["denied-peer-ip"] == "0.0.0.0-255.255.255.255"
    assert args["allowed-peer-ip"] == "${HUB_LAN_IP}"
    assert args["cert"].startswith("/tls/") and args["pkey"].startswith("/tls/")
    assert coturn["network_mode"] == "host"


def test_hubs_hand_out_turn_over_udp_and_tls_443_behind_caddy(services: dict[str, Any]) -> None:
    hubs = {n: s for n, s in services.items() if n.startswith("hub-")}
    anchors = yaml.safe_load((CONFIGS / "compose.yaml").read_text())["x-hub-env"]
    text = anchors["STREAMHUB_ICE__TURN_SERVERS"]
    assert "${TURN_SECRET:?" in text  # coturn's static-auth-secret, no default
    (server,) = [TurnServer.model_validate(t) for t in json.loads(stand_ins(text))]
    assert server.urls[0] == "turn:192.0.2.4:3478?transport=udp"
    assert server.urls[1] == "turns:turn.example:443?transport=tcp"
    caddy = services["caddy"]
    proxy_ip = caddy["networks"]["hubnet"]["ipv4_address"]
    assert json.loads(anchors["STREAMHUB_TLS__TRUSTED_PROXIES"]) == [proxy_ip]
    published = {p.rsplit(":", 2)[-2] for p in caddy["ports"]}
    assert {"80", "443", "8443"} <= published
    caddyfile = (CONFIGS / "Caddyfile").read_text()
    for name, hub in hubs.items():
        number = name.removeprefix("hub-")
        assert f"reverse_proxy {{$HUB_{number}_UPSTREAM:{name}:8000}}" in caddyfile
        assert hub["environment"]["STREAMHUB_PUBLIC_URL"].startswith("https://")
        assert "STREAMHUB_ICE__UDP_PORT_RANGE" in hub["environment"]
        assert "sysctls" not in hub  # the port range is a setting now
