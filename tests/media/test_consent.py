"""ICE consent that a busy hub survives (streamhub.media.consent), with real aioice agents."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aioice
import pytest
from aioice import stun

from streamhub.client.synthetic import PatternVideoTrack
from streamhub.media import consent
from streamhub.media.consent import CheckSchedule, SilenceClock
from tests.support.ice_pair import ice_pair
from tests.support.peer_pair import loopback_pair, negotiate
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


def test_checks_are_skipped_while_media_proves_the_peer_is_there() -> None:
    schedule = CheckSchedule(refresh_s=5.0, now=0.0)
    # Media heard every interval: no check until the refresh is due, then one.
    assert [schedule.due(t, heard=True) for t in (1.5, 3.0, 4.5, 5.0, 6.5)] == [
        False,
        False,
        False,
        True,
        False,
    ]
    # An interval without media or reports: a check at once, and the refresh counts from it.
    assert schedule.due(7.0, heard=False)
    assert not schedule.due(8.5, heard=True)
    assert schedule.due(12.0, heard=True)


async def test_a_peer_that_sends_media_is_checked_at_the_refresh_pace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher, subscriber = loopback_pair()
    # Short intervals keep the test short (set after the hooks' install, which sets the
    # interval); the pace relative to them is what is checked.
    monkeypatch.setattr(consent._policy, "interval_s", 0.25)
    monkeypatch.setattr(consent._policy, "refresh_s", 2.0)
    publisher.addTransceiver(PatternVideoTrack(), direction="sendonly")
    tracks: list[Any] = []
    subscriber.on("track", tracks.append)
    try:
        await negotiate(publisher, subscriber)
        ice = publisher.getTransceivers()[0].sender.transport.transport._connection
        requests: list[float] = []
        original = ice.request_received

        def request_received(message: stun.Message, *args: Any) -> None:
            if message.message_method == stun.Method.BINDING:
                requests.append(time.monotonic())
            original(message, *args)

        ice.request_received = request_received  # type: ignore[method-assign,assignment]
        await eventually(lambda: tracks, timeout=20)
        await asyncio.wait_for(tracks[0].recv(), 20)  # media flows from here on
        since = len(requests)
        # The subscriber hears video every frame: it still checks (RFC 7675's refresh), but
        # not every interval. Each interval would be 8 checks in 2 s; a stalled loop only
        # spaces them further.
        await eventually(lambda: len(requests) >= since + 3, timeout=30)
        spread = requests[since + 2] - requests[since]
        assert spread >= 0.9 * 2.0, f"consent checks {spread:.2f} s apart while media flowed"
    finally:
        await publisher.close()
        await subscriber.close()
