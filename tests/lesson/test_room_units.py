"""``Room`` and the registry's writes to it, with fake members: plain objects behind the member
port (``Participant``'s ``post`` and ``close``) that keep what they are told, and fake tracks
that keep what the room routes to them. No aiortc, no sockets, no hub.

What a real member does with ``post`` is the transport's (a socket's bounded outbox, the
recorder's event queue); these tests hold the room to its side: who is told what, in which
order, and which source feeds which slot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamhub.auth.tokens import Grant, TokenIssuer
from streamhub.config import load_settings
from streamhub.errors import ErrorCode
from streamhub.lesson import registry as registry_module
from streamhub.lesson.participant import Participant
from streamhub.lesson.ports import LessonInfo
from streamhub.lesson.registry import LessonRegistry
from streamhub.lesson.room import Room
from streamhub.protocol import (
    SLOT_KIND,
    HandLowered,
    HandRaised,
    LessonEnded,
    Message,
    MutedChanged,
    ParticipantJoined,
    ParticipantLeft,
    Renegotiate,
    Role,
    ScreenShareChanged,
    Slot,
    StageChanged,
    layout_for,
)
from tests.support.wait import eventually

LESSON = LessonInfo(1, "Fractions", "Maths", "Ms Li", "ABC123", "live", frozenset({7, 8, 9}))


class Source:
    """A published track: the room only hands it to sinks."""

    def __init__(self, label: str, kind: str = "video") -> None:
        self.label, self.kind = label, kind

    @property
    def fps(self) -> float:
        return 25.0

    def __repr__(self) -> str:
        return f"Source({self.label})"


class Sink:
    """A subscriber's slot: keeps the source it was switched to and whether it is enabled."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.source: Any = None
        self.enabled = True
        self.switches = 0

    def switch(self, source: Any) -> None:
        if source is not self.source:
            self.switches += 1
        self.source = source

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled


class Member:
    """A fake member: what it is told and how it was closed, in order."""

    def __init__(
        self,
        pid: str,
        role: Role,
        classroom_id: int | None = None,
        *,
        sub: str | None = None,
        hidden: bool = False,
        feed: Slot | None = None,
        credential_id: int | None = None,
        token_id: int | None = None,
        outbox: int | None = None,
    ) -> None:
        self.told: list[Message] = []
        self.closed: list[ErrorCode] = []
        # Like a socket's outbox: past this many messages the member is closed as slow.
        self.outbox = outbox
        self.on_close: list[Any] = []
        grant = Grant(
            sub=sub or pid,
            role=role,
            lesson=LESSON.id,
            classroom_id=classroom_id,
            hidden=hidden,
            credential_id=credential_id,
            token_id=token_id,
            exp=2**31,
            iat=0,
            jti=pid,
        )
        self.p = Participant(
            id=pid, grant=grant, name=pid.title(), post=self.post, close=self.close, feed=feed
        )

    def post(self, message: Message) -> None:
        if self.closed:
            return
        if self.outbox is not None and len(self.told) >= self.outbox:
            self.close(ErrorCode.SLOW_CONSUMER, "outbox overflow")
            return
        self.told.append(message)

    def close(self, code: ErrorCode, reason: str) -> None:
        self.closed.append(code)
        for hook in self.on_close:
            hook()

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.told if isinstance(m, kind)]

    def forget(self) -> None:
        self.told.clear()

    def subscribe(self) -> dict[Slot, Sink]:
        """Receive slots in this role's layout (as a session sets them after its offer)."""
        self.p.layout = layout_for(self.p.role)
        sinks = {i: Sink(SLOT_KIND[slot]) for i, slot in enumerate(self.p.layout)}
        self.p.sinks.update(sinks)
        return {self.p.layout[i]: sink for i, sink in sinks.items()}

    def publish(self, **slots: Source) -> None:
        for name, source in slots.items():
            self.p.sources[Slot[name.upper()]] = source


def lecturer(pid: str = "lec-1", **kw: Any) -> Member:
    return Member(pid, Role.LECTURER, **kw)


def classroom(classroom_id: int, pid: str | None = None, **kw: Any) -> Member:
    return Member(pid or f"cls-{classroom_id}", Role.CLASSROOM, classroom_id, **kw)


def recorder() -> Member:
    return Member("rec-1", Role.RECORDER, hidden=True)


@pytest.fixture
def room() -> Room:
    return Room(LESSON)


class Catalog:
    """The catalog port's attendance writes, the only part the registry's join and leave use."""

    def __init__(self) -> None:
        self.joined: list[str] = []
        self.left: list[int] = []

    async def attendance_joined(self, lesson_id: int, participant_id: str, *args: Any) -> int:
        self.joined.append(participant_id)
        return len(self.joined)

    async def attendance_left(self, attendance_id: int, quality: float | None, at: Any) -> None:
        self.left.append(attendance_id)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LessonRegistry]:
    settings = load_settings(None, data_dir=tmp_path, jwt_secret="s" * 32, admin_key="k" * 32)
    made = LessonRegistry(settings, catalog=Catalog(), tokens=TokenIssuer("s" * 32, 60))  # type: ignore[arg-type]
    yield made


def ids(infos: list[Any]) -> list[str]:
    return [info.id for info in infos]


# ---------------------------------------------------------------- joining and leaving


def test_the_lecturer_hears_of_every_classroom_and_classrooms_only_of_the_lecturer(
    room: Room,
) -> None:
    lec, a, b = lecturer(), classroom(7), classroom(8)
    room.add(lec.p)
    room.add(a.p)
    room.add(b.p)
    assert [m.participant.id for m in lec.of(ParticipantJoined)] == ["cls-7", "cls-8"]
    # Classrooms follow the lecturer and the stage, not each other.
    assert a.of(ParticipantJoined) == [] and b.of(ParticipantJoined) == []
    assert ids(room.roster_for(lec.p)) == ["lec-1", "cls-7", "cls-8"]
    assert ids(room.roster_for(a.p)) == ["lec-1", "cls-7"]

    # A lecturer who comes later is announced to the classrooms already there.
    room.remove(lec.p, reason="left")
    late = lecturer("lec-2")
    room.add(late.p)
    assert [m.participant.id for m in a.of(ParticipantJoined)] == ["lec-2"]
    assert [(m.participant, m.reason) for m in b.of(ParticipantLeft)] == [("lec-1", "left")]

    room.remove(a.p, reason="client disconnected")
    assert late.of(ParticipantLeft) == [
        ParticipantLeft(participant="cls-7", reason="client disconnected")
    ]
    assert b.of(ParticipantLeft) == [ParticipantLeft(participant="lec-1", reason="left")]
    assert list(room.members) == ["cls-8", "lec-2"]
    # Leaving twice is nothing.
    late.forget()
    room.remove(a.p)
    assert late.told == []


def test_a_hidden_recorder_hears_everything_and_nobody_hears_of_it(room: Room) -> None:
    lec, rec, a = lecturer(), recorder(), classroom(7)
    room.add(lec.p)
    room.add(rec.p)
    room.add(a.p)
    assert lec.of(ParticipantJoined) == [ParticipantJoined(participant=a.p.info(None))]
    assert [m.participant.id for m in rec.of(ParticipantJoined)] == ["cls-7"]
    assert "rec-1" not in ids(room.visible())
    assert "rec-1" not in ids(room.roster_for(lec.p))
    lec.forget()
    room.remove(rec.p)
    assert lec.told == []


# ---------------------------------------------------------------- hands and stage


def test_hands_are_kept_in_the_order_raised_and_everybody_sees_the_list(room: Room) -> None:
    lec, a, b = lecturer(), classroom(7), classroom(8)
    for m in (lec, a, b):
        room.add(m.p)
    room.raise_hand(b.p)
    room.raise_hand(a.p)
    room.raise_hand(b.p)  # again: still once, still first
    assert room.hands == ["cls-8", "cls-7"]
    assert a.of(HandRaised)[-1] == HandRaised(participant="cls-8", hands=["cls-8", "cls-7"])
    assert lec.of(HandRaised) == a.of(HandRaised) == b.of(HandRaised)
    room.lower_hand(b.p)
    assert room.hands == ["cls-7"] and not b.p.hand_raised and a.p.hand_raised
    assert lec.of(HandLowered) == [HandLowered(participant="cls-8", hands=["cls-7"])]
    # A classroom that leaves takes its hand with it.
    room.remove(a.p)
    assert room.hands == []


def test_one_classroom_on_stage_at_a_time_its_hand_lowered_first(room: Room) -> None:
    lec, a, b = lecturer(), classroom(7), classroom(8)
    for m in (lec, a, b):
        room.add(m.p)
    room.raise_hand(a.p)
    for m in (lec, a, b):
        m.forget()

    room.set_stage(a.p)
    assert room.stage == "cls-7" and room.hands == [] and not a.p.hand_raised
    expected = [
        HandLowered(participant="cls-7", hands=[]),
        StageChanged(participant="cls-7", name="Cls-7"),
    ]
    assert lec.told == a.told == b.told == expected
    # The other classrooms now know the one on stage (they were never told of it joining).
    assert ids(room.roster_for(b.p)) == ["lec-1", "cls-7", "cls-8"]
    assert [p.on_stage for p in room.roster_for(b.p)] == [False, True, False]

    # Bringing another on stage replaces the first; the same again changes nothing.
    room.set_stage(b.p)
    room.set_stage(b.p)
    assert room.stage == "cls-8"
    assert lec.of(StageChanged)[1:] == [StageChanged(participant="cls-8", name="Cls-8")]
    room.set_stage(None)
    assert room.stage is None
    assert a.of(StageChanged)[-1] == StageChanged(participant=None)

    # The classroom on stage leaving clears the stage for everybody.
    room.set_stage(a.p)
    lec.forget()
    room.remove(a.p)
    assert room.stage is None
    assert lec.told == [
        StageChanged(participant=None),
        ParticipantLeft(participant="cls-7", reason="left"),
    ]
    assert b.of(StageChanged)[-1] == StageChanged(participant=None)


# ---------------------------------------------------------------- slots


def test_slots_carry_the_lecturer_the_stage_and_the_screen_and_follow_changes(
    room: Room,
) -> None:
    lec, a, b = lecturer(), classroom(7), classroom(8)
    cam, mic, screen = Source("lec cam"), Source("lec mic", "audio"), Source("lec screen")
    lec.publish(camera=cam, microphone=mic, screen=screen)
    a_cam, a_mic = Source("a cam"), Source("a mic", "audio")
    a.publish(camera=a_cam, microphone=a_mic)
    room.add(lec.p)
    for m in (a, b):
        room.add(m.p)
    sa, sb = a.subscribe(), b.subscribe()
    room.route()
    assert sb[Slot.LECTURER_VIDEO].source is cam and sb[Slot.LECTURER_AUDIO].source is mic
    assert sb[Slot.SCREEN_VIDEO].source is None and sb[Slot.STAGE_VIDEO].source is None

    room.set_screen_sharing(True)
    assert sb[Slot.SCREEN_VIDEO].source is screen
    assert ScreenShareChanged(on=True) in b.told

    room.set_stage(a.p)
    assert (sb[Slot.STAGE_VIDEO].source, sb[Slot.STAGE_AUDIO].source) == (a_cam, a_mic)
    # The classroom on stage is not sent itself.
    assert sa[Slot.STAGE_VIDEO].source is None and sa[Slot.STAGE_AUDIO].source is None

    room.set_muted(lec.p, True)
    assert sb[Slot.LECTURER_AUDIO].source is None and sb[Slot.LECTURER_VIDEO].source is cam
    assert MutedChanged(participant="lec-1", muted=True) in a.told
    room.set_muted(a.p, True)
    assert sb[Slot.STAGE_AUDIO].source is None

    # Routing again with nothing changed switches nothing.
    switches = [s.switches for s in sb.values()]
    room.route()
    assert [s.switches for s in sb.values()] == switches

    # A classroom on audio only keeps its sound and has its video slots disabled.
    b.p.audio_only = True
    room.route()
    assert [s.enabled for s in sb.values() if s.kind == "video"] == [False] * 4
    assert all(s.enabled for s in sb.values() if s.kind == "audio")

    # The lecturer leaving ends the screen share and empties the lecturer's slots.
    room.remove(lec.p)
    assert not room.screen_sharing
    assert sb[Slot.LECTURER_VIDEO].source is None and sb[Slot.SCREEN_VIDEO].source is None


def test_a_whip_feed_takes_over_the_lecturers_camera_and_gives_it_back(room: Room) -> None:
    lec, feed, a = lecturer(), lecturer("lec-whip", feed=Slot.CAMERA), classroom(7)
    page_cam, whip_cam = Source("page cam"), Source("whip cam")
    lec.publish(camera=page_cam)
    feed.publish(camera=whip_cam)
    for m in (lec, a):
        room.add(m.p)
    slots = a.subscribe()
    room.route()
    assert slots[Slot.LECTURER_VIDEO].source is page_cam
    room.add(feed.p)
    # A feed is never the room's lecturer; its camera is the lecturer's for the classrooms.
    assert room.lecturer is lec.p and room.feed is feed.p
    assert slots[Slot.LECTURER_VIDEO].source is whip_cam
    room.remove(feed.p)
    assert room.feed is None and slots[Slot.LECTURER_VIDEO].source is page_cam


def test_a_whip_screen_feed_turns_the_screen_on_for_the_others(room: Room) -> None:
    lec, shot, a = lecturer(), lecturer("lec-screen", feed=Slot.SCREEN), classroom(7)
    picture = Source("whip screen")
    shot.publish(screen=picture)
    for m in (lec, a):
        room.add(m.p)
    slots = a.subscribe()
    room.add(shot.p)
    assert room.screen_on and slots[Slot.SCREEN_VIDEO].source is picture
    assert a.of(ScreenShareChanged) == [ScreenShareChanged(on=True)]
    assert shot.of(ScreenShareChanged) == []  # the feed itself is not told its own news
    room.remove(shot.p)
    assert not room.screen_on and slots[Slot.SCREEN_VIDEO].source is None
    assert a.of(ScreenShareChanged)[-1] == ScreenShareChanged(on=False)


def test_classrooms_ask_the_lecturer_for_tiles(room: Room) -> None:
    lec = lecturer()
    room.add(lec.p)
    room.add(classroom(7).p)
    room.add(classroom(8).p)
    # No tile m-lines yet: the lecturer is asked for an offer with one per classroom.
    assert lec.of(Renegotiate) == [Renegotiate(tiles=1), Renegotiate(tiles=2)]
    room.lecturer_negotiated(2)
    assert room.tiles == ["cls-7", "cls-8"]
    room.remove(room.members["cls-7"])
    assert room.tiles == [None, "cls-8"]


# ---------------------------------------------------------------- the registry's writes


async def test_a_rejoin_replaces_the_stale_session_and_a_new_lecturer_the_old(
    registry: LessonRegistry,
) -> None:
    room = await registry.start_lesson(LESSON)
    lec, old = lecturer(), classroom(7, "cls-old", sub="classroom-7")
    await registry.enter(room, lec.p)
    await registry.enter(room, old.p)
    new = classroom(7, "cls-new", sub="classroom-7")
    await registry.enter(room, new.p)
    assert old.closed == [ErrorCode.REPLACED] and new.closed == []
    assert list(room.members) == ["lec-1", "cls-new"]
    assert lec.of(ParticipantLeft) == [ParticipantLeft(participant="cls-old", reason="replaced")]
    assert [m.participant.id for m in lec.of(ParticipantJoined)] == ["cls-old", "cls-new"]

    second = lecturer("lec-2", sub="lecturer-2")
    await registry.enter(room, second.p)
    assert lec.closed == [ErrorCode.REPLACED] and room.lecturer is second.p
    assert new.of(ParticipantLeft) == [ParticipantLeft(participant="lec-1", reason="replaced")]
    # A WHIP feed of the lecturer's is not a lecturer connection: it replaces nobody.
    await registry.enter(room, lecturer("lec-whip", sub="whip-2", feed=Slot.CAMERA).p)
    assert second.closed == [] and room.lecturer is second.p


async def test_closing_a_member_tells_it_why_and_only_it(registry: LessonRegistry) -> None:
    room = await registry.start_lesson(LESSON)
    lec = lecturer(token_id=41)
    a, b = classroom(7, credential_id=5), classroom(8, credential_id=6)
    for m in (lec, a, b):
        room.add(m.p)
    registry.close_member(b.p, ErrorCode.MEDIA_LOST, "no media from it")
    assert b.closed == [ErrorCode.MEDIA_LOST] and a.closed == [] and lec.closed == []
    # Closing ends the session; the member leaves its room as its transport closes.
    assert "cls-8" in room.members
    await registry.leave(room, b.p, "media_lost")
    assert "cls-8" not in room.members
    assert lec.of(ParticipantLeft) == [ParticipantLeft(participant="cls-8", reason="media_lost")]

    await registry.revoke_credential(5)
    assert a.closed == [ErrorCode.CREDENTIAL_REVOKED] and lec.closed == []
    await registry.revoke_token(41)
    assert lec.closed == [ErrorCode.TOKEN_REVOKED] and a.closed == [ErrorCode.CREDENTIAL_REVOKED]


async def test_the_lesson_ending_tells_everybody_and_closes_the_recorder_last(
    registry: LessonRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "RECORDER_GRACE_S", 0.2)
    ended: list[int] = []

    async def on_end(info: LessonInfo) -> None:
        ended.append(info.id)

    registry.on_lesson_ended.append(on_end)
    room = await registry.start_lesson(LESSON)
    lec, a, b, rec = lecturer(), classroom(7), classroom(8), recorder()
    for m in (lec, a, b, rec):
        room.add(m.p)
    await registry.end_lesson(LESSON.id)
    assert 1 not in registry.rooms
    for m in (lec, a, b, rec):
        assert m.told[-1] == LessonEnded(), m.p.id
    assert lec.closed == a.closed == b.closed == [ErrorCode.LESSON_ENDED]
    # The recorder stays a moment longer: the last frames are still on their way.
    assert rec.closed == []
    await eventually(lambda: rec.closed == [ErrorCode.LESSON_ENDED], 5)
    await eventually(lambda: ended == [1], 5)


async def test_a_lesson_this_node_does_not_hold_is_ended_elsewhere(
    registry: LessonRegistry,
) -> None:
    elsewhere: list[int] = []

    async def tidy(lesson_id: int) -> None:
        elsewhere.append(lesson_id)

    registry.on_lesson_ended_elsewhere.append(tidy)
    await registry.end_lesson(99)
    await eventually(lambda: elsewhere == [99], 5)


# ---------------------------------------------------------------- a member that cannot keep up


def test_a_member_closed_as_slow_mid_broadcast_does_not_cost_the_others_a_message(
    room: Room,
) -> None:
    lec, slow, a = lecturer(), classroom(7, outbox=1), classroom(8)
    for m in (lec, slow, a):
        room.add(m.p)
    # Closing it takes it out of the room at once, in the middle of the broadcast (the worst
    # case: a real transport leaves a moment later).
    slow.on_close.append(lambda: room.remove(slow.p, reason="slow_consumer"))
    room.raise_hand(a.p)  # fills the slow member's outbox
    room.raise_hand(lec.p)
    assert slow.closed == [ErrorCode.SLOW_CONSUMER]
    assert "cls-7" not in room.members
    assert [m.participant for m in a.of(HandRaised)] == ["cls-8", "lec-1"]
    assert [m.participant for m in lec.of(HandRaised)] == ["cls-8", "lec-1"]
    assert lec.of(ParticipantLeft) == [ParticipantLeft(participant="cls-7", reason="slow_consumer")]
    # The room goes on for the others.
    room.set_stage(a.p)
    assert (
        a.of(StageChanged)
        == lec.of(StageChanged)
        == [StageChanged(participant="cls-8", name="Cls-8")]
    )


async def test_a_member_already_closed_does_not_keep_the_others_from_the_end(
    registry: LessonRegistry,
) -> None:
    room = await registry.start_lesson(LESSON)
    lec, gone, a = lecturer(), classroom(7), classroom(8)
    for m in (lec, gone, a):
        room.add(m.p)
    registry.close_member(gone.p, ErrorCode.SLOW_CONSUMER, "outbox overflow")
    await registry.end_lesson(LESSON.id)
    # A closed member takes no more messages; the others get the end all the same.
    assert gone.told == [] and gone.closed == [ErrorCode.SLOW_CONSUMER, ErrorCode.LESSON_ENDED]
    assert a.told == [LessonEnded()] and a.closed == [ErrorCode.LESSON_ENDED]
    assert lec.told[-1] == LessonEnded() and lec.closed == [ErrorCode.LESSON_ENDED]
