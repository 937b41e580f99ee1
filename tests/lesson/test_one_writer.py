"""Rooms are read-only outside LessonRegistry, which applies every change and tells the room's
members (no hub, no sockets: fake members that keep what they are told)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamhub.auth.tokens import Grant, TokenIssuer
from streamhub.config import load_settings
from streamhub.errors import ErrorCode
from streamhub.lesson.participant import Participant
from streamhub.lesson.ports import LessonInfo
from streamhub.lesson.registry import LessonRegistry
from streamhub.protocol import Message, RecordingChanged, Role

LESSON = LessonInfo(1, "Fractions", "Maths", "Ms Li", "ABC123", "live", frozenset({7, 8}))


class Member:
    def __init__(self, role: Role, classroom_id: int | None = None) -> None:
        self.told: list[Message] = []
        self.closed: list[tuple[ErrorCode, str]] = []
        grant = Grant(
            sub=f"{role.value}-{classroom_id}",
            role=role,
            lesson=1,
            classroom_id=classroom_id,
            exp=2**31,
            iat=0,
            jti="j",
        )
        self.participant = Participant(
            id=f"{role.value}-{classroom_id}",
            grant=grant,
            name="x",
            post=self.told.append,
            close=lambda code, reason: self.closed.append((code, reason)),
        )


@pytest.fixture
def registry(tmp_path: Path) -> LessonRegistry:
    settings = load_settings(None, data_dir=tmp_path, jwt_secret="s" * 32, admin_key="k" * 32)
    return LessonRegistry(settings, catalog=None, tokens=TokenIssuer("s" * 32, 60))  # type: ignore[arg-type]


async def test_an_update_closes_the_classrooms_no_longer_invited(
    registry: LessonRegistry,
) -> None:
    room = await registry.start_lesson(LESSON)
    lecturer, kept, dropped = (
        Member(Role.LECTURER),
        Member(Role.CLASSROOM, 7),
        Member(Role.CLASSROOM, 8),
    )
    for member in (lecturer, kept, dropped):
        room.add(member.participant)
    await registry.update_lesson(
        LessonInfo(1, "Fractions", "Maths", "Ms Li", "ABC123", "live", frozenset({7}))
    )
    assert room.lesson.invited_classroom_ids == {7}
    assert [code for code, _ in dropped.closed] == [ErrorCode.NOT_INVITED]
    assert kept.closed == [] and lecturer.closed == []


async def test_recording_changes_reach_the_members(registry: LessonRegistry) -> None:
    room = await registry.start_lesson(LESSON)
    lecturer = Member(Role.LECTURER)
    room.add(lecturer.participant)
    registry.set_recording(1, False, "the disk is full")
    assert (room.recording, room.recording_note) == (False, "the disk is full")
    assert RecordingChanged(recording=False, reason="the disk is full") in lecturer.told


async def test_rooms_are_read_only(registry: LessonRegistry) -> None:
    room = await registry.start_lesson(LESSON)
    with pytest.raises(TypeError):
        registry.rooms[2] = room  # type: ignore[index]
    with pytest.raises(AttributeError):
        room.lesson = LESSON  # type: ignore[misc]
    with pytest.raises(AttributeError):
        room.recording = True  # type: ignore[misc]
