"""Overload of one hub process, degraded one classroom at a time, never the lesson.

A hub process that has more to do than one core can do runs its event loop late: every packet,
consent check and signaling message waits. ``LoopLag`` measures how late. ``OverloadGuard``
then acts on the classrooms, never on a lecturer or recorder:

- while overloaded (or still shedding) the process refuses new classrooms (``node_full``);
- overloaded for ``overload_after_s``: the newest classroom that still gets video gets audio
  only (its video dropped at once, which a key frame request restores later), and one more
  each further ``overload_after_s``;
- calm for ``recover_after_s``: the last classroom shed gets its video back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from streamhub.config import CapacitySettings
from streamhub.lesson.participant import Participant
from streamhub.lesson.room import Room
from streamhub.protocol import AudioOnlyChanged, Role

logger = logging.getLogger(__name__)


class LoopLag:
    """How late this event loop runs: a timer every ``period_s``, measured against its due time.

    ``typical_s`` is the median of the last second: a process over capacity is late at every
    turn, while a garbage collection, a join's SDP work or a busy neighbour on the machine makes
    single spikes that must not count as overload."""

    def __init__(self, period_s: float = 0.1, window: int = 10) -> None:
        self.period_s = period_s
        self._recent: collections.deque[float] = collections.deque(maxlen=window)

    @property
    def typical_s(self) -> float:
        if not self._recent:
            return 0.0
        ordered = sorted(self._recent)
        return ordered[len(ordered) // 2]

    def note(self, lag_s: float) -> None:
        self._recent.append(max(lag_s, 0.0))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.period_s
            await asyncio.sleep(self.period_s)
            self.note(loop.time() - due)


@dataclass
class OverloadGuard:
    settings: CapacitySettings
    rooms: Callable[[], Iterable[Room]]
    clock: Callable[[], float] = field(default=lambda: asyncio.get_running_loop().time())
    lag: LoopLag = field(default_factory=LoopLag)
    shed: list[tuple[Room, Participant]] = field(default_factory=list)
    overloaded_since: float | None = None
    last_shed_at: float | None = None
    calm_since: float | None = None
    sheds_total: int = 0
    # Told of each member shed or given its video back (the registry records audio-only time).
    on_change: Callable[[Room, Participant], None] | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def overloaded(self) -> bool:
        return self.lag.typical_s * 1000 > self.settings.overload_lag_ms

    @property
    def refusing(self) -> bool:
        """New classrooms are refused once overload has lasted, and while still shedding."""
        since = self.overloaded_since
        lasted = since is not None and self.clock() - since >= self.settings.overload_after_s
        return lasted or bool(self.shed)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.lag.run(), name="loop-lag"),
            loop.create_task(self._run(), name="overload-guard"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            with contextlib.suppress(Exception):
                self.tick()

    def tick(self) -> None:
        now = self.clock()
        self.shed = [(room, p) for room, p in self.shed if p.id in room.members and p.shed]
        if self.overloaded:
            self.calm_since = None
            if self.overloaded_since is None:
                self.overloaded_since = self.last_shed_at = now
            elif now - (self.last_shed_at or now) >= self.settings.overload_after_s:
                self.last_shed_at = now
                self._shed_one()
            return
        self.overloaded_since = self.last_shed_at = None
        if self.calm_since is None:
            self.calm_since = now
        elif self.shed and now - self.calm_since >= self.settings.recover_after_s:
            self.calm_since = now
            room, member = self.shed.pop()
            self._set(room, member, False)

    def _shed_one(self) -> None:
        candidates = [
            (room, member)
            for room in self.rooms()
            for member in room.members.values()
            if member.role is Role.CLASSROOM and not member.shed and not member.audio_only
        ]
        if not candidates:
            return
        # The newest classroom: the ones that were there first keep their lesson as it was.
        room, member = max(candidates, key=lambda pair: pair[1].joined_at)
        self.shed.append((room, member))
        self.sheds_total += 1
        logger.warning(
            "hub overloaded (event loop %.0f ms late): %s gets audio only",
            self.lag.typical_s * 1000,
            member.id,
            extra={"lesson": room.lesson.id},
        )
        self._set(room, member, True)

    def _set(self, room: Room, member: Participant, shed: bool) -> None:
        member.shed = shed
        if self.on_change is not None:
            self.on_change(room, member)
        message = AudioOnlyChanged(participant=member.id, enabled=shed, reason="overload")
        member.post(message)
        lecturer = room.lecturer
        if lecturer is not None:
            lecturer.post(message)
        room.route()
