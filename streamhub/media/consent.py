"""ICE consent freshness (RFC 7675) that a busy hub survives.

aioice 0.13's ``Connection.query_consent`` sends one binding request every ``CONSENT_INTERVAL``,
never retransmits it, gives up on it after 0.5 s, and closes the connection after
``CONSENT_FAILURES`` misses in a row. On a loaded machine the answer of a healthy peer is often
later than 0.5 s (the peer's process is starved too, or the hub's loop stalled while it was on
its way), so under load the hub closed healthy peers one after another, the lecturer included:
the whole lesson lost its teacher (issue 19: at 24-48 classrooms on a 2-core box).

``query_consent`` here (installed over aioice's by ``streamhub.media.aiortc_hooks.install``):

- retransmits each check (STUN's RTO, 0.5 s doubling) until the next one is due;
- counts as proof of life anything authenticated that comes from the peer: a consent answer, or
  an SRTP/SRTCP packet that decrypted (``heard``; media and receiver reports flow every second);
- expires consent only after ``timeout_s`` of silence measured in *responsive* loop time: the
  time the hub's own loop spent stalled is not the peer's silence and is not counted
  (``SilenceClock``). A vanished peer is still dropped within ``timeout_s`` plus one interval;
- sends a check only when the last interval brought no media or reports from the peer, or
  when ``refresh_s`` (RFC 7675's 5 s) passed since the last one: a classroom that sends media
  or reports proves it is there every second, and a STUN transaction each way every 1.5 s was
  ~5 % of the hub's CPU at 32 classrooms (``CheckSchedule``).

Written against aioice 0.13.0 (pinned): ``Connection.query_consent``, ``_nominated``,
``build_request``, ``remote_password``, ``close`` and ``StunProtocol.request``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any

from aioice import stun

logger = logging.getLogger(__name__)

# A wake-up later than this is the loop's own stall, not the peer's silence.
STALL_SLACK_S = 0.1


@dataclass
class ConsentPolicy:
    interval_s: float = 1.5
    timeout_s: float = 7.0
    # A real check at least this often, whatever else the peer sends (RFC 7675 section 5.1).
    refresh_s: float = 5.0


_policy = ConsentPolicy()


def configure(interval_s: float, timeout_s: float) -> None:
    _policy.interval_s = interval_s
    _policy.timeout_s = timeout_s


def heard(connection: Any) -> None:
    """Something authenticated came from the peer of this aioice connection."""
    connection._streamhub_heard = True


class SilenceClock:
    """How long a peer has been silent, in time the local loop was responsive."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.silent_s = 0.0
        self.stalled_s = 0.0

    def tick(self, slept_s: float, asked_s: float, heard: bool) -> bool:
        """One wake-up ``slept_s`` after the last, which asked to sleep ``asked_s``; True once
        consent has expired."""
        stall = max(0.0, slept_s - asked_s - STALL_SLACK_S)
        self.stalled_s += stall
        if heard:
            self.silent_s = 0.0
        else:
            self.silent_s += slept_s - stall
        return self.silent_s >= self.timeout_s


class CheckSchedule:
    """Whether a wake-up sends a consent check: always after an interval without media or
    reports from the peer, else once ``refresh_s`` passed since the last check."""

    def __init__(self, refresh_s: float, now: float) -> None:
        self.refresh_s = refresh_s
        self.last_check = now

    def due(self, now: float, heard: bool) -> bool:
        if heard and now - self.last_check < self.refresh_s:
            return False
        self.last_check = now
        return True


def _retransmissions(interval_s: float) -> int:
    """How many retransmissions (0.5 s, then doubling) fit before the next check is due."""
    count, elapsed, rto = 0, 0.0, stun.RETRY_RTO
    while elapsed + rto < interval_s * 0.8 and count < stun.RETRY_MAX:
        elapsed += rto
        rto *= 2
        count += 1
    return count


async def query_consent(self: Any) -> None:
    """Replaces ``aioice.ice.Connection.query_consent`` (see the module docstring)."""
    assert self.remote_password is not None
    loop = asyncio.get_running_loop()
    clock = SilenceClock(_policy.timeout_s)
    checks: set[asyncio.Task[None]] = set()
    self._streamhub_heard = False  # media or reports (``heard``)
    self._streamhub_answered = False  # a consent check

    async def check(pair: Any) -> None:
        request = self.build_request(pair, nominate=False)
        with contextlib.suppress(stun.TransactionError, ConnectionError, OSError):
            await pair.protocol.request(
                request,
                pair.remote_addr,
                integrity_key=self.remote_password.encode("utf8"),
                retransmissions=_retransmissions(_policy.interval_s),
            )
            self._streamhub_answered = True

    try:
        last = loop.time()
        schedule = CheckSchedule(_policy.refresh_s, last)
        while True:
            asked = _policy.interval_s * (0.8 + 0.4 * random.random())
            await asyncio.sleep(asked)
            now = loop.time()
            heard_now, self._streamhub_heard = self._streamhub_heard, False
            answered, self._streamhub_answered = self._streamhub_answered, False
            if clock.tick(now - last, asked, heard_now or answered):
                logger.info(
                    "ICE consent expired: nothing from the peer for %.1f s (loop stalls "
                    "of %.1f s not counted)",
                    clock.silent_s,
                    clock.stalled_s,
                )
                self._query_consent_task = None
                await self.close()
                return
            last = now
            if not schedule.due(now, heard_now):
                continue
            for pair in list(self._nominated.values()):
                task = loop.create_task(check(pair))
                checks.add(task)
                task.add_done_callback(checks.discard)
    finally:
        for task in list(checks):
            task.cancel()
