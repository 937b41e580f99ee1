"""The term report's sums (streamhub.lesson.term_report) on register lines: invitations and
attendance rate, a classroom that came to an open lesson uninvited, a classroom deleted since,
quality by minutes and by band, lessons not held."""

from __future__ import annotations

from streamhub.lesson.attendance import AttendanceStatus, ClassroomPresence
from streamhub.lesson.term_report import ClassroomInfo, HeldLesson, ReportLesson, term_report

ROOMS = {
    1: ClassroomInfo(1, "一班", 10, "山区小学"),
    2: ClassroomInfo(2, "二班", 10, "山区小学"),
}


def line(
    classroom_id: int,
    status: AttendanceStatus,
    minutes: float,
    quality: float | None,
    invited: bool = True,
) -> ClassroomPresence:
    return ClassroomPresence(
        classroom_id=classroom_id,
        name="",
        invited=invited,
        status=status,
        late=status is AttendanceStatus.LATE,
        left_early=status is AttendanceStatus.LEFT_EARLY,
        first_joined_at=None,
        last_left_at=None,
        minutes_present=minutes,
        sessions=0 if status is AttendanceStatus.ABSENT else 1,
        drops=0,
        quality=quality,
        audio_only_minutes=minutes / 10,
    )


LI = ReportLesson(1, "分数", "李老师")
OPEN = ReportLesson(2, "Open day", "")
HELD = [
    HeldLesson(
        LI,
        [
            line(1, AttendanceStatus.PRESENT, 45, 0.9),
            line(2, AttendanceStatus.LATE, 30, 0.3),
            line(9, AttendanceStatus.PRESENT, 45, 0.6),  # classroom 9 was deleted since
        ],
    ),
    HeldLesson(
        OPEN,
        [
            line(1, AttendanceStatus.ABSENT, 0, None),
            line(2, AttendanceStatus.PRESENT, 40, 1.0, False),
        ],
    ),
]
NOT_HELD = [(ReportLesson(3, "几何", "李老师"), [1, 2])]


def test_per_classroom() -> None:
    groups, totals = term_report(HELD, NOT_HELD, ROOMS, "classroom")
    by_key = {g.key: g for g in groups}
    assert [g.key for g in groups] == ["9", "1", "2"]  # the deleted one has no school: first
    one, two, gone = by_key["1"], by_key["2"], by_key["9"]
    assert (one.lessons_held, one.lessons_invited, one.lessons_attended) == (2, 2, 1)
    assert one.attendance_rate == 0.5 and one.absent == 1 and one.lessons_not_held == 1
    # 二班 came to the open lesson uninvited: its minutes count, its rate does not move.
    assert two.attendance_rate == 1.0 and two.open_attended == 1 and two.late == 1
    assert two.minutes_present == 70 and two.audio_only_minutes == 7
    # Quality weighted by minutes present: (0.3 × 30 + 1.0 × 40) / 70.
    assert two.quality == round((0.3 * 30 + 1.0 * 40) / 70, 3)
    assert (two.quality_good, two.quality_fair, two.quality_poor) == (1, 0, 1)
    assert gone.name == "" and gone.school == "" and gone.lessons_attended == 1
    assert (totals.lessons_held, totals.lessons_invited, totals.lessons_attended) == (2, 4, 3)
    assert totals.attendance_rate == 0.75 and totals.lessons_not_held == 2


def test_per_school_and_per_lecturer() -> None:
    schools, _ = term_report(HELD, NOT_HELD, ROOMS, "school")
    assert [(g.key, g.name, g.lessons_invited) for g in schools] == [
        ("", "", 1),  # the deleted classroom's line: no school known
        ("10", "山区小学", 3),
    ]
    lecturers, _ = term_report(HELD, NOT_HELD, ROOMS, "lecturer")
    assert [(g.name, g.lessons_held, g.lessons_invited, g.lessons_not_held) for g in lecturers] == [
        ("", 1, 1, 0),  # the open lesson names no lecturer
        ("李老师", 1, 3, 2),
    ]
