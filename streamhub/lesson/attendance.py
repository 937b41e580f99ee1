"""Attendance as staff read it: one entry per stretch of time a classroom (or the lecturer) was
in the lesson. Sessions of one attendee that overlap (a rejoin before the hub noticed the old
connection was gone, a session a crash left open) are one stretch, never counted twice."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass
class Stretch:
    participant_id: str
    role: str
    name: str
    classroom_id: int | None
    joined_at: datetime
    left_at: datetime | None
    quality: float | None

    @property
    def duration_s(self) -> float | None:
        return (self.left_at - self.joined_at).total_seconds() if self.left_at else None


def _attendee(row: Any) -> tuple[str, Any]:
    # A classroom is one attendee whatever PC or session it used; the lecturer's role has one.
    if row.classroom_id is not None:
        return row.role, row.classroom_id
    return row.role, row.name if row.role != "lecturer" else None


def merge_overlaps(rows: Iterable[Any]) -> list[Stretch]:
    """Rows (joined_at, left_at, quality, …) merged per attendee where they overlap, in order of
    joining. Quality is the mean of the merged sessions' weighted by their length."""
    by_attendee: dict[tuple[str, Any], list[Any]] = {}
    for row in sorted(rows, key=lambda r: (r.joined_at, r.id)):
        by_attendee.setdefault(_attendee(row), []).append(row)
    merged: list[Stretch] = []
    for sessions in by_attendee.values():
        current: Stretch | None = None
        weights: list[tuple[float, float]] = []
        for row in sessions:
            if current is not None and _overlaps(current, row):
                current.left_at = _later(current.left_at, row.left_at)
                weights.append(_weight(row))
                continue
            if current is not None:
                current.quality = _mean(weights)
                merged.append(current)
            current = Stretch(
                row.participant_id, row.role, row.name, row.classroom_id,
                row.joined_at, row.left_at, row.quality,
            )  # fmt: skip
            weights = [_weight(row)]
        if current is not None:
            current.quality = _mean(weights)
            merged.append(current)
    return sorted(merged, key=lambda s: s.joined_at)


def _overlaps(stretch: Stretch, row: Any) -> bool:
    return stretch.left_at is None or row.joined_at < stretch.left_at


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later end; None (still there) is later than any time."""
    return None if a is None or b is None else max(a, b)


def _weight(row: Any) -> tuple[float, float]:
    if row.quality is None:
        return (0.0, 0.0)
    length = (row.left_at - row.joined_at).total_seconds() if row.left_at else 1.0
    return (row.quality, max(length, 1e-3))


def _mean(weights: list[tuple[float, float]]) -> float | None:
    total = sum(w for _, w in weights)
    return sum(q * w for q, w in weights) / total if total else None


# ------------------------------------------------------------------ the register per classroom


class AttendanceStatus(StrEnum):
    PRESENT = "present"
    LATE = "late"
    LEFT_EARLY = "left_early"
    ABSENT = "absent"


@dataclass
class ClassroomPresence:
    """One invited (or attending) classroom's line in a lesson's register."""

    classroom_id: int
    name: str
    invited: bool
    status: AttendanceStatus
    late: bool
    left_early: bool
    first_joined_at: datetime | None
    last_left_at: datetime | None
    minutes_present: float
    sessions: int
    # Times its connection ended while the lesson went on and it came back.
    drops: int
    quality: float | None
    # Of its minutes present, those it received sound only (a poor link, or the hub shedding
    # video when overloaded), each moment once whatever sessions overlapped.
    audio_only_minutes: float = 0.0


def register(
    classrooms: Iterable[tuple[int, str]],
    rows: Iterable[Any],
    started_at: datetime | None,
    ended_at: datetime | None,
    now: datetime,
    late_after_s: float,
    left_early_s: float,
    audio_only: Iterable[Any] = (),
) -> list[ClassroomPresence]:
    """The lesson's register: one line per invited classroom (``classrooms``: id and name), in
    that order, then any other classroom that came (an open lesson). Minutes are the merged
    stretches within the lesson's live span (until ``now`` while it runs), so a classroom that
    rejoined, or whose hub restarted, is one line whose minutes count each moment once.
    ``audio_only``: stretches (attendance_id, started_at, ended_at) in audio only of the
    sessions in ``rows``; one still open ends with its session."""
    invited = dict(classrooms)
    audio_of: dict[int, list[Any]] = {}
    for span in audio_only:
        audio_of.setdefault(span.attendance_id, []).append(span)
    sessions: dict[int, list[Any]] = {}
    names: dict[int, str] = {}
    for row in rows:
        if row.role == "classroom" and row.classroom_id is not None:
            sessions.setdefault(row.classroom_id, []).append(row)
            names.setdefault(row.classroom_id, row.name)
    end = ended_at or now
    lines = []
    for classroom_id in [*invited, *(c for c in sessions if c not in invited)]:
        own = sessions.get(classroom_id, [])
        stretches = merge_overlaps(own)
        seconds = 0.0
        for stretch in stretches:
            start = max(stretch.joined_at, started_at) if started_at else stretch.joined_at
            stop = min(stretch.left_at or end, end)
            seconds += max((stop - start).total_seconds(), 0.0)
        first = stretches[0].joined_at if stretches else None
        last_left = None if any(s.left_at is None for s in stretches) else (
            max((s.left_at for s in stretches if s.left_at), default=None)
        )  # fmt: skip
        audio = [
            _within(span.started_at, span.ended_at, row, started_at, end)
            for row in own
            for span in audio_of.get(row.id, ())
        ]
        late = bool(first and started_at and (first - started_at).total_seconds() > late_after_s)
        left_early = bool(
            ended_at and last_left and (ended_at - last_left).total_seconds() > left_early_s
        )
        if not stretches:
            status = AttendanceStatus.ABSENT
        elif late:
            status = AttendanceStatus.LATE
        elif left_early:
            status = AttendanceStatus.LEFT_EARLY
        else:
            status = AttendanceStatus.PRESENT
        lines.append(
            ClassroomPresence(
                classroom_id=classroom_id,
                name=invited.get(classroom_id) or names.get(classroom_id, ""),
                invited=classroom_id in invited,
                status=status,
                late=late,
                left_early=left_early,
                first_joined_at=first,
                last_left_at=last_left,
                minutes_present=round(seconds / 60, 2),
                sessions=len(own),
                drops=_drops(own),
                quality=_mean([_weight(row) for row in own]),
                audio_only_minutes=round(covered_s(audio) / 60, 2),
            )
        )
    return lines


def _within(
    start: datetime,
    stop: datetime | None,
    session: Any,
    lesson_start: datetime | None,
    lesson_end: datetime,
) -> tuple[datetime, datetime]:
    """A stretch of a session cut to the session (an open stretch ends with it) and to the
    lesson's live span."""
    begin = max(start, session.joined_at, lesson_start or start)
    session_end = min(session.left_at or lesson_end, lesson_end)
    return begin, min(stop or session_end, session_end)


def covered_s(spans: Iterable[tuple[datetime, datetime]]) -> float:
    """Seconds covered by the union of the spans (start, stop): each moment counted once
    however many spans hold it; empty or reversed spans count nothing."""
    total = 0.0
    reach: datetime | None = None
    for start, stop in sorted(spans):
        if reach is not None and start < reach:
            start = reach
        if stop > start:
            total += (stop - start).total_seconds()
            reach = stop
    return total


def _drops(sessions: list[Any]) -> int:
    """Sessions that ended while a later one of the same classroom went on: the connection
    dropped and the classroom came back (two PCs of one classroom side by side are no drop)."""
    return sum(
        1
        for s in sessions
        if s.left_at is not None
        and any(
            t is not s
            and t.joined_at > s.joined_at
            and (t.left_at is None or t.left_at > s.left_at)
            for t in sessions
        )
    )
