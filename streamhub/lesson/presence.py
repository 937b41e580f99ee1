"""What this hub node knows of classroom PCs outside the lessons' rooms: the devices an agent
reported with its last timetable poll, that it asked for a lesson token (it is joining), and
how each classroom left a lesson (on purpose, or dropped).

Whether a PC is online at all comes from the catalog (its credential's last use), which every
node shares; what is kept here is detail that a lost node only makes less precise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from streamhub.lesson.participant import Participant
from streamhub.lesson.ports import LessonInfo
from streamhub.lesson.room import Room
from streamhub.protocol import DeviceHealth, Role

# A token exchange is followed by a join within seconds; a PC that asked and never came is
# not "joining" for ever.
JOINING_FOR_S = 30.0
# Reasons a session ends that the classroom chose (the leave message): "left", not "dropped".
LEFT_ON_PURPOSE = frozenset({"left"})


@dataclass(frozen=True)
class Departure:
    at: datetime
    on_purpose: bool


class Presence:
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._devices: dict[int, DeviceHealth] = {}
        self._joining: dict[int, tuple[int, datetime]] = {}
        self._departures: dict[tuple[int, int], Departure] = {}

    # ------------------------------------------------------------ what classroom PCs say

    def seen(self, classroom_id: int, devices: DeviceHealth | None) -> None:
        """A classroom PC polled its timetable (or asked for a token), maybe with its devices."""
        if devices is not None:
            self._devices[classroom_id] = devices

    def joining(self, classroom_id: int, lesson_id: int) -> None:
        """A classroom PC was handed a token to this lesson: it is about to join."""
        self._joining[classroom_id] = (lesson_id, self._clock())

    def devices(self, classroom_id: int) -> DeviceHealth | None:
        return self._devices.get(classroom_id)

    def joining_since(self, classroom_id: int, lesson_id: int) -> datetime | None:
        """When the PC was handed a token to this lesson, if lately (it may be joining)."""
        entry = self._joining.get(classroom_id)
        if entry is None or entry[0] != lesson_id:
            return None
        fresh = (self._clock() - entry[1]).total_seconds() < JOINING_FOR_S
        return entry[1] if fresh else None

    # ------------------------------------------------------------ rooms (LessonRegistry hooks)

    def member_left(self, room: Room, member: Participant, reason: str) -> None:
        if member.role is not Role.CLASSROOM or member.classroom_id is None:
            return
        if room.by_subject(member.grant.sub) is not None:
            return  # replaced by its own new session: it never left
        key = (room.lesson.id, member.classroom_id)
        self._departures[key] = Departure(self._clock(), reason in LEFT_ON_PURPOSE)
        self._joining.pop(member.classroom_id, None)

    def departure(self, lesson_id: int, classroom_id: int) -> Departure | None:
        return self._departures.get((lesson_id, classroom_id))

    async def lesson_ended(self, lesson: LessonInfo) -> None:
        for key in [k for k in self._departures if k[0] == lesson.id]:
            del self._departures[key]
        for classroom_id, (lesson_id, _) in list(self._joining.items()):
            if lesson_id == lesson.id:
                del self._joining[classroom_id]
