"""ICE consent that a busy hub survives (streamhub.media.consent), with real aioice agents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aioice
import pytest
from aioice import stun

from streamhub.media.consent import SilenceClock
from tests.support.ice_pair import ice_pair
from tests.support.wait import eventually


def test_the_loops_own_stalls_are_not_the_peers_silence() -> None:
    clock = SilenceClock(timeout_s=7.0)
    # Three wake-ups 1.5 s apart, each 2 s late (the loop was busy): under 5 s of silence, not
    # 10.5 s (a lateness within the slack still counts as silence).
    assert not any(clock.tick(3.5, 1.5, heard=False) for _ in range(3))
    assert clock.silent_s == pytest.approx(3 * 1.6)
    assert clock.stalled_s == pytest.approx(3 * 1.9)
    # Anything authenticated from the peer starts the count again.
    assert not clock.tick(1.5, 1.5, heard=True)
    assert clock.silent_s == 0
    # A peer that is really gone expires after the timeout of responsive time.
    expired = [clock.tick(1.5, 1.5, heard=False) for _ in range(5)]
    assert expired == [False, False, False, False, True]


async def _pair() -> tuple[aioice.Connection, aioice.Connection]:
    hub, peer = await ice_pair(hub_controlling=True)
    await asyncio.gather(hub.connect(), peer.connect())
    return hub, peer


@pytest.fixture
async def pair() -> AsyncIterator[tuple[aioice.Connection, aioice.Connection]]:
    hub, peer = await _pair()
    try:
        yield hub, peer
    finally:
        await asyncio.gather(hub.close(), peer.close())


def _answer_consent_late(peer: aioice.Connection, delay_s: float | None) -> list[int]:
    """The peer answers the hub's checks ``delay_s`` late (None: never); returns a counter."""
    answered = [0]
    loop = asyncio.get_running_loop()
    for protocol in peer._protocols:
        original = protocol.send_stun

        def send_stun(message: stun.Message, addr: Any, original: Any = original) -> None:
            if message.message_class != stun.Class.RESPONSE:
                original(message, addr)
            elif delay_s is not None:
                answered[0] += 1
                loop.call_later(delay_s, original, message, addr)

        protocol.send_stun = send_stun  # type: ignore[method-assign]
    return answered


async def test_a_slow_peer_keeps_its_consent(
    pair: tuple[aioice.Connection, aioice.Connection],
) -> None:
    hub, peer = pair
    # Later than aioice's 0.5 s single try, as a starved peer process answers on a busy box.
    answered = _answer_consent_late(peer, 0.8)
    await eventually(lambda: answered[0] >= 7, timeout=30)
    assert not hub._closed, "the hub dropped a peer that answered every check"
    await hub.send(b"\x80still here")
    assert await asyncio.wait_for(peer.recv(), 5) == b"\x80still here"


async def test_a_vanished_peer_still_loses_its_consent(
    pair: tuple[aioice.Connection, aioice.Connection],
) -> None:
    hub, peer = pair
    _answer_consent_late(peer, None)
    await eventually(lambda: hub._closed, timeout=15)
