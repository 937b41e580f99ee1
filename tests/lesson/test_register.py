"""The register's rules (streamhub.lesson.attendance.register) on session rows as the catalog
keeps them: late, left early, absent, merged minutes, drops."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from streamhub.lesson.attendance import AttendanceStatus, covered_s, register

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
END = START + timedelta(minutes=45)
ROW_IDS = itertools.count(1)  # each session row its own id, as the catalog's


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def session(classroom: int, joined: float, left: float | None, quality: float = 1.0) -> object:
    return SimpleNamespace(
        id=next(ROW_IDS),
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


def test_spans_covered_count_each_moment_once() -> None:
    assert covered_s([]) == 0
    assert covered_s([(at(0), at(2)), (at(1), at(3)), (at(5), at(6))]) == 4 * 60
    assert covered_s([(at(0), at(10)), (at(2), at(3))]) == 10 * 60  # one inside another
    assert covered_s([(at(4), at(3))]) == 0  # reversed: nothing


def span(row: Any, start: float, stop: float | None) -> object:
    return SimpleNamespace(
        attendance_id=row.id,
        started_at=at(start),
        ended_at=None if stop is None else at(stop),
    )


def test_audio_only_minutes_merge_across_sessions_and_stay_within_each_session() -> None:
    first, second, third = session(1, 0, 10), session(1, 9, 45), session(2, 0, 45)
    spans = [
        span(first, 5, None),  # still open when its session dropped at 10: ends there
        span(second, 9, 12),  # the rejoined session, overlapping the first's: 5..12 in all
        span(second, 40, 50),  # past the lesson's end: counts until 45
        span(third, -3, 2),  # before the lesson went live: counts from 0
    ]
    found = register(
        [(1, "一班"), (2, "二班")], [first, second, third], START, END, END, 300, 300, spans
    )
    by_id = {line.classroom_id: line for line in found}
    assert by_id[1].audio_only_minutes == 12.0  # 5..12 and 40..45
    assert by_id[2].audio_only_minutes == 2.0
    assert lines([session(1, 0, 45)])[1].audio_only_minutes == 0.0
