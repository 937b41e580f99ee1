"""The register's rules (streamhub.lesson.attendance.register) on session rows as the catalog
keeps them: late, left early, absent, merged minutes, drops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from streamhub.lesson.attendance import AttendanceStatus, register

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
END = START + timedelta(minutes=45)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def session(classroom: int, joined: float, left: float | None, quality: float = 1.0) -> object:
    return SimpleNamespace(
        id=id(object()),
        participant_id=f"p{classroom}-{joined}",
        role="classroom",
        name=f"Class {classroom}",
        classroom_id=classroom,
        joined_at=at(joined),
        left_at=None if left is None else at(left),
        quality=quality,
    )


def lines(rows: list[object], ended: datetime | None = END, now: datetime = END) -> dict:
    invited = [(1, "一班"), (2, "二班"), (3, "三班")]
    found = register(invited, rows, START, ended, now, late_after_s=300, left_early_s=300)
    return {line.classroom_id: line for line in found}


def test_each_invited_classroom_has_one_line_in_order_and_one_that_never_came_is_absent() -> None:
    found = lines([session(1, 0.5, 45)])
    assert list(found) == [1, 2, 3]
    assert found[1].status is AttendanceStatus.PRESENT and found[1].name == "一班"
    assert found[2].status is AttendanceStatus.ABSENT and found[2].minutes_present == 0
    assert found[2].first_joined_at is None and found[2].sessions == 0


def test_reconnects_and_overlaps_count_each_minute_once() -> None:
    # Dropped at 10 (back at 11), at 20 a rejoin before the hub noticed the old session.
    rows = [session(1, 0, 10), session(1, 11, 21), session(1, 20, 45)]
    line = lines(rows)[1]
    assert line.minutes_present == 44.0
    assert line.sessions == 3 and line.drops == 2
    assert line.first_joined_at == at(0) and line.last_left_at == at(45)


def test_two_pcs_of_one_classroom_side_by_side_are_no_drop() -> None:
    line = lines([session(1, 0, 45), session(1, 1, 45)])[1]
    assert line.drops == 0 and line.minutes_present == 45.0


def test_late_and_left_early() -> None:
    found = lines([session(1, 6, 45), session(2, 0, 30), session(3, 4, 44)])
    assert found[1].status is AttendanceStatus.LATE and found[1].late
    assert found[2].status is AttendanceStatus.LEFT_EARLY and found[2].left_early
    assert found[3].status is AttendanceStatus.PRESENT  # within both graces


def test_minutes_stay_within_the_lesson_and_a_running_lesson_counts_until_now() -> None:
    found = lines([session(1, -5, 50)])  # joined before the start, ended after the end
    assert found[1].minutes_present == 45.0
    running = lines([session(1, 0, None)], ended=None, now=at(20))[1]
    assert running.minutes_present == 20.0 and running.last_left_at is None
    assert running.status is AttendanceStatus.PRESENT


def test_a_classroom_that_came_to_an_open_lesson_uninvited_is_listed_after() -> None:
    found = lines([session(9, 0, 45)])
    assert list(found) == [1, 2, 3, 9]
    assert not found[9].invited and found[9].name == "Class 9"


def test_quality_is_weighted_by_time() -> None:
    line = lines([session(1, 0, 30, quality=1.0), session(1, 31, 46, quality=0.4)])[1]
    assert line.quality is not None and abs(line.quality - (30 * 1.0 + 15 * 0.4) / 45) < 1e-6
