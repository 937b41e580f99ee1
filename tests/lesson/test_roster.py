"""The roster's states from what the catalog and the rooms know (the pure part; the browser
tests drive it with real agents)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamhub.auth.tokens import Grant
from streamhub.lesson.participant import Participant
from streamhub.lesson.ports import LessonInfo
from streamhub.lesson.presence import Presence
from streamhub.lesson.room import Room
from streamhub.lesson.roster import Invited, Member, Roster, Stay, build_roster
from streamhub.protocol import DeviceHealth, Role

NOW = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
INVITED = [Invited(i, f"Class {i}", "School") for i in range(1, 8)]


def roster(presence: Presence, status: str = "live", **kwargs: object) -> Roster:
    args: dict[str, object] = {
        "lesson_id": 5,
        "status": status,
        "invited": INVITED,
        "members": [],
        "last_seen": {},
        "stays": [],
        "presence": presence,
        "now": NOW,
        "online_within_s": 35.0,
    }
    args.update(kwargs)
    return build_roster(**args)  # type: ignore[arg-type]


def classroom_member(room: Room, classroom_id: int) -> Participant:
    grant = Grant(
        sub=f"classroom-{classroom_id}",
        role=Role.CLASSROOM,
        lesson=room.lesson.id,
        classroom_id=classroom_id,
        exp=0,
        iat=0,
        jti="x",
    )
    return Participant(f"cls-{classroom_id}", grant, f"Class {classroom_id}", ignore, ignore)


def ignore(*args: object) -> None:
    return None


def test_every_state_and_the_ready_count() -> None:
    presence = Presence()
    info = LessonInfo(5, "Fractions", "Maths", "Ms Li", "ABC123", "live")
    room = Room(info)
    # 5 dropped (its socket closed), 6 left on purpose: both after being in the lesson.
    for classroom_id, reason in ((5, "client disconnected"), (6, "left")):
        member = classroom_member(room, classroom_id)
        room.members[member.id] = member
        room.remove(member, reason)
        presence.member_left(room, member, reason)
    presence.joining(4, 5)
    no_camera = DeviceHealth(camera="missing", display="off")
    members = [
        Member("cls-1", 1, "Class 1", connected=True),
        Member("cls-2", 2, "Class 2", connected=True, audio_only=True),
        Member("cls-3", 3, "Class 3", connected=False, devices=no_camera),
    ]
    seen = {7: NOW - timedelta(seconds=5), 1: NOW}
    result = roster(presence, members=members, last_seen=seen)
    states = {e.classroom_id: e.state for e in result.classrooms}
    assert states == {
        1: "in_lesson",
        2: "audio_only",
        3: "joining",
        4: "joining",
        5: "dropped",
        6: "left",
        7: "waiting",
    }
    by_id = {e.classroom_id: e for e in result.classrooms}
    assert by_id[3].problems == ["no_picture", "no_camera"]
    assert by_id[5].since is not None and by_id[5].since.tzinfo is not None
    assert (result.ready, result.total) == (2, 7)  # in the lesson: 1 and 2


def test_before_the_lesson_ready_means_online() -> None:
    presence = Presence()
    presence.seen(2, DeviceHealth(microphone="missing"))
    seen = {1: NOW - timedelta(seconds=10), 2: NOW, 3: NOW - timedelta(seconds=60)}
    result = roster(presence, status="scheduled", last_seen=seen)
    states = [e.state for e in result.classrooms]
    assert states[:3] == ["waiting", "waiting", "offline"]  # 3 was seen a minute ago
    assert result.classrooms[1].problems == ["no_microphone"]
    assert (result.ready, result.total) == (2, 7)


def test_a_drop_known_only_from_the_attendance_and_an_open_lesson_guest() -> None:
    stays = [Stay(2, NOW - timedelta(minutes=20), NOW - timedelta(minutes=3))]
    guest = Member("cls-9", 9, "Guest class", connected=True)
    # Its token was asked for before that stay began: it is not joining any more.
    presence = Presence(clock=lambda: NOW - timedelta(minutes=21))
    presence.joining(2, 5)
    result = roster(presence, stays=stays, members=[guest])
    by_id = {e.classroom_id: e for e in result.classrooms}
    assert by_id[2].state == "dropped" and by_id[2].since == NOW - timedelta(minutes=3)
    assert by_id[9].invited is False and by_id[9].state == "in_lesson"
    assert [e.classroom_id for e in result.classrooms][-1] == 9  # guests after the invited


def test_a_replaced_session_is_not_a_departure() -> None:
    presence = Presence()
    room = Room(LessonInfo(5, "Fractions", "Maths", "Ms Li", "ABC123", "live"))
    old, new = classroom_member(room, 1), classroom_member(room, 1)
    new.id = "cls-1b"
    room.members[new.id] = new
    presence.member_left(room, old, "replaced")
    assert presence.departure(5, 1) is None
