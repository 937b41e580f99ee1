"""ICE connectivity checks that end when the check list does, not on the next tick.

aioice 0.13's ``Connection.connect`` starts one check per 20 ms (RFC 8445's Ta) and looks at
the check list's outcome only once no check is left to start, that is after the 20 ms sleep
that follows the last one. On loopback or a school's LAN the nominating check is answered in
about a millisecond, so each end waited ~20 ms for nothing before DTLS could start: a fifth of
a classroom's join→first frame median of ~100 ms (issue 19, ``bench/fanout.py``). ``connect``
here (installed over aioice's by ``streamhub.media.aiortc_hooks.install``) starts the checks at
the same pace and returns as soon as the check list has completed or failed.

Written against aioice 0.13.0 (pinned): ``Connection.connect`` and what it uses,
``_local_candidates_end``, ``_remote_candidates``, ``_pair_remote_candidate``,
``sort_check_list``, ``_unfreeze_initial``, ``_early_checks``, ``_early_checks_done``,
``check_incoming``, ``_check_periodic``, ``_check_list``, ``_check_list_state``,
``_query_consent_task`` and ``query_consent``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aioice.ice import ICE_COMPLETED, ICE_FAILED

# One check started per interval, as aioice paces them.
CHECK_INTERVAL_S = 0.02


async def _outcome(connection: Any) -> int:
    """The check list's outcome, checks started one per interval while it is not known."""
    outcome: asyncio.Queue[int] = connection._check_list_state
    while outcome.empty() and connection._check_periodic():
        try:
            return await asyncio.wait_for(outcome.get(), CHECK_INTERVAL_S)
        except TimeoutError:
            continue
    if outcome.empty() and not connection._check_list:
        return ICE_FAILED
    return await outcome.get()


async def connect(self: Any) -> None:
    """Replaces ``aioice.Connection.connect``: the ICE handshake. Returns once a candidate pair
    was nominated; raises ConnectionError if none could be (failure is only known once the
    remote end-of-candidates was signalled)."""
    if not self._local_candidates_end:
        raise ConnectionError("Local candidates gathering was not performed")
    if self.remote_username is None or self.remote_password is None:
        raise ConnectionError("Remote username or password is missing")

    for remote_candidate in self._remote_candidates:
        self._pair_remote_candidate(remote_candidate)
    self.sort_check_list()
    self._unfreeze_initial()

    # The checks that came before connect(), now that the remote password is known.
    for early_check in self._early_checks:
        self.check_incoming(*early_check)
    self._early_checks.clear()
    self._early_checks_done = True

    result = await _outcome(self)
    for check in self._check_list:
        if check.task:
            check.task.cancel()
    if result != ICE_COMPLETED:
        raise ConnectionError("ICE negotiation failed")
    self._query_consent_task = asyncio.create_task(self.query_consent())
