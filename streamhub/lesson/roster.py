"""The lesson's roster: every invited classroom and where it is, before and during the lesson.

States, in the order a classroom goes through them:

- ``offline``: its PC has not been heard from lately (no timetable poll, no token request);
- ``waiting``: its agent (or classroom page) is online and waiting for the lesson;
- ``joining``: it was handed a token to the live lesson, or joined and its media is not
  connected yet;
- ``in_lesson`` / ``audio_only``: in the lesson, receiving everything / sound only;
- ``dropped``: it was in the live lesson and its connection ended without a leave;
- ``left``: it left the live lesson on purpose.

A classroom is *ready* when it is in the lesson (live), or online for it (before).
Building the roster is pure: the catalog and the rooms hand in what they know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from streamhub.lesson.presence import Presence
from streamhub.protocol import DeviceHealth

RosterState = Literal["offline", "waiting", "joining", "in_lesson", "audio_only", "dropped", "left"]
Problem = Literal["no_picture", "no_sound", "no_camera", "no_microphone"]
IN_LESSON: frozenset[str] = frozenset({"in_lesson", "audio_only"})
ONLINE: frozenset[str] = frozenset({"waiting", "joining", *IN_LESSON})
# Device -> what the lecturer is told when it does not work, in the order the tile names them.
PROBLEMS: tuple[tuple[str, Problem], ...] = (
    ("display", "no_picture"),
    ("speaker", "no_sound"),
    ("camera", "no_camera"),
    ("microphone", "no_microphone"),
)


class RosterEntry(BaseModel):
    classroom_id: int
    name: str
    school: str = ""
    state: RosterState
    # dropped / left: when; in the lesson: since when (None when not known).
    since: datetime | None = None
    participant: str | None = None
    invited: bool = True
    devices: DeviceHealth | None = None
    problems: list[Problem] = Field(default_factory=list)


class Roster(BaseModel):
    lesson_id: int
    status: str
    ready: int
    total: int
    classrooms: list[RosterEntry]


@dataclass(frozen=True)
class Invited:
    classroom_id: int
    name: str
    school: str = ""


@dataclass(frozen=True)
class Member:
    """A classroom's session in the lesson's room (this node's, or another node's snapshot)."""

    participant: str
    classroom_id: int
    name: str
    connected: bool
    audio_only: bool = False
    devices: DeviceHealth | None = None


@dataclass(frozen=True)
class Stay:
    """An attendance row: a classroom's session in the lesson, ended or not."""

    classroom_id: int
    joined_at: datetime
    left_at: datetime | None
    last_seen_at: datetime | None = None


def problems_of(devices: DeviceHealth | None) -> list[Problem]:
    if devices is None:
        return []
    return [problem for device, problem in PROBLEMS if getattr(devices, device) != "ok"]


def build_roster(
    *,
    lesson_id: int,
    status: str,
    invited: Iterable[Invited],
    members: Iterable[Member],
    last_seen: Mapping[int, datetime],
    stays: Iterable[Stay],
    presence: Presence,
    now: datetime,
    online_within_s: float,
) -> Roster:
    live = status == "live"
    by_classroom: dict[int, Member] = {}
    for member in members:
        # A rejoin can overlap its stale session for a moment: the connected one speaks.
        held = by_classroom.get(member.classroom_id)
        if held is None or (member.connected and not held.connected):
            by_classroom[member.classroom_id] = member
    last_stay: dict[int, Stay] = {}
    for stay in stays:
        held_stay = last_stay.get(stay.classroom_id)
        if held_stay is None or stay.joined_at >= held_stay.joined_at:
            last_stay[stay.classroom_id] = stay
    online_since = now - timedelta(seconds=online_within_s)

    def entry(classroom_id: int, name: str, school: str, is_invited: bool) -> RosterEntry:
        member = by_classroom.get(classroom_id)
        if member is not None:
            state: RosterState = (
                "joining"
                if not member.connected
                else "audio_only"
                if member.audio_only
                else "in_lesson"
            )
            stay = last_stay.get(classroom_id)
            devices = member.devices or presence.devices(classroom_id)
            return RosterEntry(
                classroom_id=classroom_id,
                name=name or member.name,
                school=school,
                state=state,
                since=stay.joined_at if stay is not None and stay.left_at is None else None,
                participant=member.participant,
                invited=is_invited,
                devices=devices,
                problems=problems_of(devices),
            )
        devices = presence.devices(classroom_id)
        since: datetime | None = None
        seen = last_seen.get(classroom_id)
        online = seen is not None and seen >= online_since
        asked = presence.joining_since(classroom_id, lesson_id) if live else None
        stay = last_stay.get(classroom_id)
        # A token asked for after its last stay began: on its way (back) in.
        if asked is not None and (stay is None or stay.joined_at < asked):
            state = "joining"
        elif live and (gone := _gone(presence, lesson_id, classroom_id, last_stay)) is not None:
            state, since = gone
        elif online:
            state = "waiting"
        else:
            state = "offline"
        return RosterEntry(
            classroom_id=classroom_id,
            name=name,
            school=school,
            state=state,
            since=since,
            invited=is_invited,
            devices=devices if online or state != "offline" else None,
            problems=problems_of(devices) if online or state != "offline" else [],
        )

    entries = []
    listed: set[int] = set()
    for room in invited:
        listed.add(room.classroom_id)
        entries.append(entry(room.classroom_id, room.name, room.school, True))
    # An open lesson lets in classrooms that were not invited: they are listed after.
    extra = sorted(
        (m for cid, m in by_classroom.items() if cid not in listed), key=lambda m: m.name
    )
    entries += [entry(m.classroom_id, m.name, "", False) for m in extra]
    wanted = IN_LESSON if live else ONLINE
    ready = sum(1 for e in entries if e.state in wanted) if status != "ended" else 0
    return Roster(
        lesson_id=lesson_id, status=status, ready=ready, total=len(entries), classrooms=entries
    )


def _gone(
    presence: Presence, lesson_id: int, classroom_id: int, last_stay: Mapping[int, Stay]
) -> tuple[RosterState, datetime | None] | None:
    """How and when a classroom that was in the live lesson left it (None: it never was)."""
    departure = presence.departure(lesson_id, classroom_id)
    if departure is not None:
        return ("left" if departure.on_purpose else "dropped"), departure.at
    stay = last_stay.get(classroom_id)
    if stay is None:
        return None
    # Known only from the attendance (another node held the room, or this one restarted).
    return "dropped", stay.left_at or stay.last_seen_at or stay.joined_at
