"""Attendance as staff read it: one entry per stretch of time a classroom (or the lecturer) was
in the lesson. Sessions of one attendee that overlap (a rejoin before the hub noticed the old
connection was gone, a session a crash left open) are one stretch, never counted twice."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
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
