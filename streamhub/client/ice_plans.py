"""Which TURN server an aiortc client gathers on: UDP first, then TURN/UDP, then TURN/TLS.

aioice (0.13) uses only the first usable TURN URL of a configuration, so behind a school
firewall that lets out only TCP 443 a ``turn:`` UDP URL listed first wins and the class gets no
media. Browsers gather on every URL at once; an aiortc client walks them instead: each *plan* is
the host candidates plus one TURN URL. Before the peer connection is made, every TURN URL is
tried with a real allocation (in parallel, a few seconds at most), plans whose allocation
worked go first in the hub's order, and a plan without TURN comes last (direct UDP only, and no
gathering that waits on a dead relay). ``LessonClient.connect`` moves to the next plan when ICE
does not connect, and remembers per hub the plan that did.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from streamhub.media.turn_probe import PROBE_TIMEOUT_S, TurnProbe, probe_turn, turn_transport
from streamhub.protocol import IceServer

logger = logging.getLogger(__name__)

GRACE_S = 0.3


@dataclass(frozen=True)
class IcePlan:
    servers: tuple[IceServer, ...]  # STUN servers and at most one TURN URL
    turn_url: str | None

    @property
    def label(self) -> str:
        return self.turn_url or "direct"


def ice_plans(servers: list[IceServer]) -> list[IcePlan]:
    """One plan per usable TURN URL, in the hub's order, then one without TURN."""
    stun = tuple(s for s in servers if all(u.lower().startswith("stun") for u in s.urls))
    plans = []
    for server in servers:
        for url in server.urls:
            if not url.lower().startswith(("turn:", "turns:")):
                continue
            if turn_transport(url) is None:
                logger.warning("TURN URL %s is not usable by aiortc (turns: needs TCP)", url)
                continue
            single = IceServer(urls=[url], username=server.username, credential=server.credential)
            plans.append(IcePlan((*stun, single), url))
    plans.append(IcePlan(stun, None))
    return plans


async def probe_all(
    plans: list[IcePlan], timeout_s: float = PROBE_TIMEOUT_S
) -> dict[str, TurnProbe]:
    """Probe the plans' TURN URLs together. A URL ranked before one that already worked gets
    a grace (as long again, at least ``GRACE_S``) and no more: over a firewall that drops UDP,
    TURN/UDP never answers, and waiting its full timeout would only delay the class. (An
    allocation over TLS takes two more round trips than one over UDP, so a UDP way that works
    has normally answered first.)"""
    tasks: dict[str, asyncio.Task[TurnProbe]] = {}
    for plan in plans:
        if plan.turn_url is None:
            continue
        turn = plan.servers[-1]
        tasks[plan.turn_url] = asyncio.ensure_future(
            probe_turn(plan.turn_url, turn.username, turn.credential, timeout_s)
        )
    if not tasks:
        return {}
    order = list(tasks)
    started = time.monotonic()
    deadline = started + timeout_s
    pending = set(tasks.values())
    try:
        while pending:
            done, pending = await asyncio.wait(
                pending,
                timeout=max(deadline - time.monotonic(), 0),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                break
            for url in order:
                task = tasks[url]
                if task.done() and task.result().ok:
                    elapsed = time.monotonic() - started
                    deadline = min(deadline, started + elapsed + max(GRACE_S, elapsed))
                    # Nothing ranked before it is still running: no reason to wait.
                    if all(tasks[u].done() for u in order[: order.index(url)]):
                        pending = set()
                    break
    finally:
        for task in tasks.values():
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    return {
        url: (
            task.result()
            if not task.cancelled()
            else TurnProbe(url, turn_transport(url) or "", False, None, "slower than another", 0)
        )
        for url, task in tasks.items()
    }


def rank(plans: list[IcePlan], probes: dict[str, TurnProbe]) -> list[IcePlan]:
    """Plans whose TURN allocation worked, in order, then the direct one. A plan whose relay
    failed would only add a dead server's wait to gathering: it is left out."""
    working = [p for p in plans if p.turn_url is not None and probes[p.turn_url].ok]
    return working + [p for p in plans if p.turn_url is None]
