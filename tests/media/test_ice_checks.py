"""ICE connect returns when the check list completes, not on aioice's next 20 ms tick."""

from __future__ import annotations

import asyncio
from typing import Any

import aioice
import pytest

from streamhub.media import aiortc_hooks, ice_checks
from tests.support.ice_pair import ice_pair


async def test_connect_returns_once_the_pair_is_nominated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ticks a minute apart: connect() returns within the 30 s deadline only if it ends with the
    # check list, as the nominating check is answered, not on the tick after the last check.
    monkeypatch.setattr(ice_checks, "CHECK_INTERVAL_S", 60.0)
    hub, peer = await ice_pair(hub_controlling=False)
    # Whether the outcome was already known each time a check was to be started.
    known_at_tick: list[bool] = []
    for end in (hub, peer):
        original = end._check_periodic

        def tick(end: aioice.Connection = end, original: Any = original) -> bool:
            known_at_tick.append(not end._check_list_state.empty())
            return bool(original())

        end._check_periodic = tick  # type: ignore[method-assign]
    try:
        await asyncio.wait_for(asyncio.gather(hub.connect(), peer.connect()), 30)
        assert known_at_tick and not any(known_at_tick), "no tick after the outcome"
        for end in (hub, peer):
            assert end._nominated, "a pair is nominated on both ends"
            assert end._query_consent_task is not None, "consent checks run after connect"
        # Media flows over the nominated pair.
        await peer.send(b"\x80hello")
        assert await asyncio.wait_for(hub.recv(), 10) == b"\x80hello"
    finally:
        await asyncio.gather(hub.close(), peer.close())


async def test_connect_fails_when_no_candidate_answers() -> None:
    aiortc_hooks.install(["127.0.0.1"])
    lonely = aioice.Connection(ice_controlling=True, components=1)
    await lonely.gather_candidates()
    await lonely.add_remote_candidate(None)  # the remote end has no candidate at all
    lonely.remote_username, lonely.remote_password = "user", "password" * 4
    try:
        with pytest.raises(ConnectionError, match="ICE negotiation failed"):
            await asyncio.wait_for(lonely.connect(), 30)
    finally:
        await lonely.close()
