"""Capacity and overload: joins beyond what the hub serves are refused, overload degrades one
classroom at a time, and the lesson's first classrooms keep every frame."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streamhub.auth.tokens import Grant
from streamhub.client import ClientError, LessonClient
from streamhub.client.clip import ClipTrack, encode_audio_clip, encode_video_clip
from streamhub.config import CapacitySettings
from streamhub.lesson.overload import OverloadGuard
from streamhub.lesson.participant import Participant
from streamhub.lesson.ports import LessonInfo
from streamhub.lesson.room import Room
from streamhub.media import aiortc_hooks
from streamhub.protocol import AudioOnlyChanged, Role, Slot
from tests.support.frames import FrameRun
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually


async def test_a_lesson_at_one_and_a_half_times_capacity_keeps_its_first_classrooms_whole(
    tmp_path: Path,
) -> None:
    video = encode_video_clip(320, 240, fps=30, seconds=2, bitrate_kbps=300)
    camera = encode_video_clip(160, 120, fps=15, seconds=2, bitrate_kbps=100)
    audio = encode_audio_clip(0.5)
    async with InProcessHub(
        tmp_path / "hub",
        recorder={"enabled": False},
        signaling={"joins_per_minute": 1000},
        capacity={"max_classrooms_per_lesson": 4},
    ) as hub:
        admin = AdminApi(hub.url)
        lesson = await admin.lesson(classrooms=6)
        tokens = [await admin.device_token(c) for c in lesson.credentials]
        clients: list[LessonClient] = []
        runs: list[FrameRun] = []
        try:
            lecturer = LessonClient(hub.url, lesson.lecturer_token)
            clients.append(lecturer)
            track = ClipTrack(video)
            await lecturer.connect({Slot.CAMERA: track, Slot.MICROPHONE: ClipTrack(audio)})
            aiortc_hooks.on_keyframe_request(lecturer.senders[Slot.CAMERA], track.request_keyframe)

            async def join(token: str) -> LessonClient:
                client = LessonClient(hub.url, token)
                clients.append(client)
                publish = {Slot.CAMERA: ClipTrack(camera), Slot.MICROPHONE: ClipTrack(audio)}
                await client.connect(publish)  # type: ignore[arg-type]
                return client

            for token in tokens[:4]:
                client = await join(token)
                runs.append(FrameRun(client.tracks[Slot.LECTURER_VIDEO]))  # 30 fps
            # Half as many again keep knocking (as agents retry); each is refused, clearly.
            for _ in range(3):
                for token in tokens[4:]:
                    with pytest.raises(ClientError) as refused:
                        await join(token)
                    assert refused.value.code == "lesson_full"
            # The first four receive every frame the lecturer sends, in a row.
            await eventually(lambda: all(run.best >= 90 for run in runs), timeout=40)
            room = hub.services.lessons.rooms[lesson.lesson_id]
            assert len(room.classrooms()) == 4
        finally:
            for run in runs:
                run.stop()
            await asyncio.gather(*(c.close() for c in reversed(clients)), return_exceptions=True)
            await admin.close()


async def test_a_full_hub_process_refuses_with_node_full(tmp_path: Path) -> None:
    async with InProcessHub(
        tmp_path / "hub",
        recorder={"enabled": False},
        capacity={"max_classrooms_per_node": 1},
    ) as hub:
        admin = AdminApi(hub.url)
        first, second = await admin.lesson(classrooms=1), await admin.lesson(classrooms=1)
        one = LessonClient(hub.url, await admin.device_token(first.credentials[0]))
        two = LessonClient(hub.url, await admin.device_token(second.credentials[0]))
        try:
            await one.connect({})
            with pytest.raises(ClientError) as refused:
                await two.connect({})
            assert refused.value.code == "node_full"
            closed = await eventually(lambda: two.closed, timeout=10)
            assert closed.code == 4503
            # The classroom that is in may rejoin (it replaces itself).
            again = LessonClient(hub.url, await admin.device_token(first.credentials[0]))
            await again.connect({})
            await again.close()
        finally:
            await one.close()
            await two.close()
            await admin.close()


def _member(
    room: Room, index: int, posted: list[object], role: Role = Role.CLASSROOM
) -> Participant:
    grant = Grant(
        sub=f"{role.value}-{index}", role=role, lesson=1, exp=2**40, iat=0, jti=str(index)
    )
    member = Participant(
        id=f"{role.value}-{index}", grant=grant, name="x", post=posted.append, close=print
    )
    member.joined_at = float(index)
    room.members[member.id] = member
    return member


def test_overload_degrades_the_newest_classroom_first_one_at_a_time() -> None:
    room = Room(LessonInfo(1, "t", "s", "l", "code", "live"))
    told: list[object] = []
    lecturer = _member(room, 0, told, Role.LECTURER)
    classrooms = [_member(room, i, []) for i in range(1, 4)]
    now = [0.0]
    settings = CapacitySettings(overload_lag_ms=200, overload_after_s=3, recover_after_s=20)
    # What the registry is told, to record the register's audio-only minutes.
    changes: list[tuple[str, bool]] = []
    guard = OverloadGuard(
        settings,
        lambda: [room],
        clock=lambda: now[0],
        on_change=lambda _room, member: changes.append((member.id, member.receives_audio_only)),
    )

    def run(seconds: float, lag_s: float) -> None:
        for _ in range(int(seconds * 2)):
            for _ in range(5):  # the loop-lag probe runs every 0.1 s
                guard.lag.note(lag_s)
            guard.tick()
            now[0] += 0.5

    run(2.5, 0.01)
    assert not guard.refusing and not any(c.shed for c in classrooms)
    for _ in range(20):  # spikes (a collection, a join's SDP work) are not overload
        for lag_s in (0.9, 0.01, 0.01, 0.6, 0.01):
            guard.lag.note(lag_s)
        guard.tick()
        now[0] += 0.5
    assert not guard.refusing and not any(c.shed for c in classrooms)
    run(3.5, 0.5)  # overloaded: new classrooms refused, the newest gets audio only
    assert guard.refusing
    assert [c.shed for c in classrooms] == [False, False, True]
    assert lecturer.shed is False
    assert told == [AudioOnlyChanged(participant=classrooms[2].id, enabled=True, reason="overload")]
    run(3.0, 0.5)  # still overloaded: one more
    assert [c.shed for c in classrooms] == [False, True, True]
    run(19.0, 0.01)  # calm, but not yet for recover_after_s
    assert [c.shed for c in classrooms] == [False, True, True]
    run(2.0, 0.01)  # calm long enough: the last one shed gets its video back, one at a time
    assert [c.shed for c in classrooms] == [False, False, True]
    run(21.0, 0.01)
    assert [c.shed for c in classrooms] == [False, False, False]
    assert not guard.refusing
    third, second = classrooms[2].id, classrooms[1].id
    assert changes == [(third, True), (second, True), (second, False), (third, False)]
