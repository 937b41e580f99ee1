"""The lesson bench's classrooms publish through the hub's send path (bench/clip_send.py): what
the lecturer gets of them is a valid stream, and a key-frame request restarts the clip."""

from __future__ import annotations

import asyncio
from typing import Any

import av
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

from bench.clip_send import IdleTrack, PacketizedClip
from bench.lesson_worker import ClipClient
from streamhub.client import LessonClient
from streamhub.client.clip import encode_audio_clip, encode_video_clip
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually


async def test_a_clip_sent_through_the_hubs_send_path_reaches_the_lecturer_and_decodes(
    hub: InProcessHub, admin: AdminApi
) -> None:
    video = PacketizedClip(encode_video_clip(320, 240, fps=15, seconds=2, bitrate_kbps=300))
    audio = PacketizedClip(encode_audio_clip(0.5))
    lesson = await admin.lesson(classrooms=1)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    classroom = ClipClient(
        hub.url,
        await admin.device_token(lesson.credentials[0]),
        "classroom-0",
        {Slot.CAMERA: video, Slot.MICROPHONE: audio},
    )
    try:
        await lecturer.connect(
            {Slot.CAMERA: PatternVideoTrack(), Slot.MICROPHONE: ToneAudioTrack()}
        )
        await classroom.connect(
            {Slot.CAMERA: IdleTrack("video"), Slot.MICROPHONE: IdleTrack("audio")}
        )
        camera, microphone = classroom.clip_senders
        for clip_sender in classroom.clip_senders:
            clip_sender.start()

        await eventually(lambda: any(lecturer.tiles.values()), timeout=20)
        tiles = {
            slot: lecturer.tile_tracks[mid]
            for mid, slot in lecturer.slots.items()
            if slot in (Slot.TILE_VIDEO, Slot.TILE_AUDIO)
        }
        decoder = FrameDecoder("VP8")
        pictures: list[Any] = []

        async def watch(count: int) -> None:
            while len(pictures) < count:
                packet = await tiles[Slot.TILE_VIDEO].recv()
                assert isinstance(packet, av.Packet)
                pictures.extend(decoder.decode(packet))

        # Every frame decodes from the clip's key frame on: 20 pictures of the clip's size.
        await asyncio.wait_for(watch(20), 30)
        assert {(p.width, p.height) for p in pictures} == {(320, 240)}

        # A key-frame request from the hub (PLI) restarts the clip at its key frame, and the
        # pictures go on.
        sender = camera.leg.sender
        asked = camera.keyframes_requested
        await sender._handle_rtcp_packet(
            RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sender._ssrc)
        )
        assert camera.keyframes_requested == asked + 1
        await asyncio.wait_for(watch(40), 30)

        # A classroom's sound reaches the lecturer only when it is asked for (a raised hand);
        # the hub's receiver reports show that it takes the microphone's stream: they echo the
        # leg's sender reports, and aiortc's sender measures the round trip from them.
        reported = microphone.leg.sender
        await eventually(lambda: getattr(reported, "_RTCRtpSender__rtt", None) is not None, 20)
        assert microphone.leg.reports >= 1

        assert camera.leg.packets > 0 and microphone.leg.packets > 0
    finally:
        for clip_sender in classroom.clip_senders:
            await clip_sender.stop()
        await classroom.close()
        await lecturer.close()
