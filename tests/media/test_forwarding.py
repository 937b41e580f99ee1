"""The hub forwards encoded frames between real aiortc peers: lecturer to classrooms, classrooms
to the lecturer, and the stage and screen share slots switch without any SDP exchange."""

from __future__ import annotations

import asyncio
import itertools

import av

from streamhub.client import LessonClient
from streamhub.client.clip import ClipTrack, encode_video_clip
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack, read_counter
from streamhub.media.forwarder import CATCH_UP_MAX_FRAMES, OutTrack
from streamhub.protocol import HandRaised, RaiseHand, ScreenShare, Slot, StageOff, StageOn
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually

# A picture must come from a key frame made on request: without one, aiortc's VP8 encoder sends
# a key frame only every 3,000 frames (100 s at 30 fps). The deadline is far below that and far
# above what a loaded 2-core machine needs; how fast it really is, bench/fanout.py measures.
FIRST_PICTURE_S = 20.0


async def first_frame(
    track, decoder: FrameDecoder, timeout: float = FIRST_PICTURE_S
) -> av.VideoFrame:
    """Receive packets until one decodes to a picture."""

    async def run() -> av.VideoFrame:
        while True:
            packet = await track.recv()
            assert isinstance(packet, av.Packet)
            frames = decoder.decode(packet)
            if frames:
                return frames[-1]

    return await asyncio.wait_for(run(), timeout)


async def join(hub: InProcessHub, token: str, publish: dict) -> LessonClient:
    client = LessonClient(hub.url, token)
    await client.connect(publish)
    return client


async def test_lecturer_reaches_three_classrooms_and_each_classroom_reaches_the_lecturer(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=3)
    lecturer_video = PatternVideoTrack()
    lecturer = await join(
        hub, lesson.lecturer_token, {Slot.CAMERA: lecturer_video, Slot.MICROPHONE: ToneAudioTrack()}
    )
    classrooms = []
    try:
        for credential in lesson.credentials:
            token = await admin.device_token(credential)
            client = await join(
                hub,
                token,
                {Slot.CAMERA: PatternVideoTrack(320, 240), Slot.MICROPHONE: ToneAudioTrack(660)},
            )
            classrooms.append(client)
            # A new classroom sees the lecturer at once: a key frame on request.
            frame = await first_frame(client.tracks[Slot.LECTURER_VIDEO], FrameDecoder("VP8"))
            assert (frame.width, frame.height) == (640, 480)
            assert 0 <= read_counter(frame) < lecturer_video.count
            audio = await asyncio.wait_for(client.tracks[Slot.LECTURER_AUDIO].recv(), 5)
            assert FrameDecoder("opus").decode(audio)

        # The lecturer sees every classroom in a tile (renegotiated as classrooms joined).
        await eventually(lambda: len([m for m in lecturer.tiles.values() if m]) == 6, timeout=10)
        tile_videos = [
            lecturer.tile_tracks[mid]
            for mid, slot in lecturer.slots.items()
            if slot is Slot.TILE_VIDEO
        ]
        assert len(tile_videos) == 3
        for track in tile_videos:
            frame = await first_frame(track, FrameDecoder("VP8"))
            assert (frame.width, frame.height) == (320, 240)

        # Forwarded, never re-encoded: the hub packetized the lecturer's frames itself and its
        # aiortc senders never made an encoder at all.
        room = hub.services.lessons.rooms[lesson.lesson_id]
        for member in room.classrooms():
            sink = member.sinks[member.layout.index(Slot.LECTURER_VIDEO)]
            assert isinstance(sink, OutTrack) and sink.packets_out > 0
            sender = next(
                t.sender for t in member.peer.pc.getTransceivers() if t.sender.track is sink
            )
            assert sender._RTCRtpSender__encoder is None
            assert sink.leg is not None and sink.leg.packets > 0
    finally:
        for client in classrooms:
            await client.close()
        await lecturer.close()


async def test_stage_and_screen_share_switch_slots_without_renegotiation(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=2)
    lecturer = await join(
        hub,
        lesson.lecturer_token,
        {Slot.CAMERA: PatternVideoTrack(), Slot.MICROPHONE: ToneAudioTrack()},
    )
    a_video = PatternVideoTrack(320, 240)
    a = await join(
        hub,
        await admin.device_token(lesson.credentials[0]),
        {Slot.CAMERA: a_video, Slot.MICROPHONE: ToneAudioTrack(880)},
    )
    b = await join(
        hub,
        await admin.device_token(lesson.credentials[1]),
        {Slot.CAMERA: PatternVideoTrack(160, 120), Slot.MICROPHONE: ToneAudioTrack(550)},
    )
    try:
        await a.send(RaiseHand())
        raised = await lecturer.next_event(HandRaised)
        negotiations = (a.negotiations, b.negotiations)

        await lecturer.request(StageOn(participant=raised.participant))
        frame = await first_frame(b.tracks[Slot.STAGE_VIDEO], FrameDecoder("VP8"))
        assert (frame.width, frame.height) == (320, 240)
        assert read_counter(frame) < a_video.count
        stage_audio = await asyncio.wait_for(b.tracks[Slot.STAGE_AUDIO].recv(), 10)
        assert FrameDecoder("opus").decode(stage_audio)
        assert (a.negotiations, b.negotiations) == negotiations

        room = hub.services.lessons.rooms[lesson.lesson_id]
        member_b = next(m for m in room.classrooms() if m.id != raised.participant)
        stage_sink = member_b.sinks[member_b.layout.index(Slot.STAGE_VIDEO)]
        # The classroom on stage does not get its own picture back.
        member_a = room.members[raised.participant]
        assert member_a.sinks[member_a.layout.index(Slot.STAGE_VIDEO)].source is None

        await lecturer.request(StageOff())
        assert stage_sink.source is None

        screen = PatternVideoTrack(1280, 720, fps=10)
        lecturer.publish(Slot.SCREEN, screen)
        await lecturer.request(ScreenShare(on=True))
        frame = await first_frame(b.tracks[Slot.SCREEN_VIDEO], FrameDecoder("VP8"))
        assert (frame.width, frame.height) == (1280, 720)
        await lecturer.request(ScreenShare(on=False))
        lecturer.publish(Slot.SCREEN, None)
        screen_sink = member_b.sinks[member_b.layout.index(Slot.SCREEN_VIDEO)]
        assert screen_sink.source is None
        assert (a.negotiations, b.negotiations) == negotiations
    finally:
        for client in (a, b, lecturer):
            await client.close()


async def test_a_classroom_joining_between_key_frames_starts_from_the_last_one_at_once(
    hub: InProcessHub, admin: AdminApi
) -> None:
    # A publisher that answers no key frame request (a browser may not, for a while): one key
    # frame every 44 frames, ~2.9 s at 15 fps, and nothing in between.
    clip = encode_video_clip(320, 240, fps=15, seconds=44 / 15, bitrate_kbps=300)
    assert [key for _, key in clip.frames] == [True] + [False] * 43
    assert len(clip.frames) <= CATCH_UP_MAX_FRAMES
    lesson = await admin.lesson(classrooms=1)
    camera = ClipTrack(clip)
    lecturer = await join(
        hub, lesson.lecturer_token, {Slot.CAMERA: camera, Slot.MICROPHONE: ToneAudioTrack()}
    )
    classroom: LessonClient | None = None
    try:
        # Join just after a key frame went out: the next one is a whole clip away.
        await eventually(
            lambda: camera.sent > len(clip.frames) and camera.sent % len(clip.frames) in (1, 2),
            timeout=30,
            interval=0.01,
        )
        token = await admin.device_token(lesson.credentials[0])
        classroom = await join(hub, token, {})
        track = classroom.tracks[Slot.LECTURER_VIDEO]
        packets = [await asyncio.wait_for(track.recv(), FIRST_PICTURE_S)]
        while len(packets) < 8:
            packets.append(await asyncio.wait_for(track.recv(), 10))
        # The classroom did not wait for the next key frame: it got the last one and every
        # frame since at once, stamped a clock tick apart (a player shows the newest at once,
        # late by nothing), then the live frames at the clip's pace; and all of them decode.
        assert packets[0].is_keyframe
        steps = [b.pts - a.pts for a, b in itertools.pairwise(packets)]
        burst = steps.index(clip.step) if clip.step in steps else len(steps)
        assert burst >= 1 and set(steps[:burst]) == {1} and set(steps[burst:]) <= {clip.step}
        decoder = FrameDecoder("VP8")
        assert sum(len(decoder.decode(packet)) for packet in packets) == len(packets)
    finally:
        for client in (classroom, lecturer):
            if client is not None:
                await client.close()
