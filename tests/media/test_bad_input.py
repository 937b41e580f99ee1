"""Bad SDP, candidates and grants get typed errors while the other sessions keep their media."""

from __future__ import annotations

import asyncio
import json
import re

import websockets
from aiortc import RTCPeerConnection

from streamhub.auth.tokens import TokenIssuer
from streamhub.client import LessonClient, signaling_url
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack, read_counter
from streamhub.protocol import Role, Slot
from tests.support.hub import JWT_SECRET, AdminApi, InProcessHub


async def latest_counter(client: LessonClient, decoder: FrameDecoder, packets: int = 15) -> int:
    value = -1
    for _ in range(packets):
        packet = await asyncio.wait_for(client.tracks[Slot.LECTURER_VIDEO].recv(), 5)
        for frame in decoder.decode(packet):
            value = max(value, read_counter(frame))
    return value


async def classroom_offer(video: bool = True) -> str:
    """A real aiortc offer in the classroom layout."""
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendonly")
    pc.addTransceiver("audio", direction="sendonly")
    for kind in ("video", "audio", "video", "video", "audio"):
        pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def without_vp8(sdp: str) -> str:
    """Drop VP8 (and its RTX) from every video m-line, keeping H.264."""
    vp8 = set(re.findall(r"a=rtpmap:(\d+) VP8/90000", sdp))
    rtx = {pt for pt, apt in re.findall(r"a=fmtp:(\d+) apt=(\d+)", sdp) if apt in vp8}
    drop = vp8 | rtx
    lines = []
    for line in sdp.split("\r\n"):
        if line.startswith("m=video"):
            parts = line.split(" ")
            line = " ".join(parts[:3] + [p for p in parts[3:] if p not in drop])
        match = re.match(r"a=(?:rtpmap|fmtp|rtcp-fb):(\d+)", line)
        if match and match.group(1) in drop:
            continue
        lines.append(line)
    return "\r\n".join(lines)


async def test_bad_offers_and_candidates_get_typed_errors_and_others_keep_flowing(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=2)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    await lecturer.connect({Slot.CAMERA: PatternVideoTrack(), Slot.MICROPHONE: ToneAudioTrack()})
    watcher = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
    await watcher.connect({})
    decoder = FrameDecoder("VP8")
    try:
        before = await latest_counter(watcher, decoder)
        token = await admin.device_token(lesson.credentials[1])
        good_offer = await classroom_offer()
        cases = [
            ({"type": "offer", "id": "o1", "sdp": "v=0\r\nthis is not sdp"}, "negotiation_failed"),
            (
                {"type": "offer", "id": "o2", "sdp": good_offer[: len(good_offer) // 3]},
                "negotiation_failed",
            ),
            ({"type": "offer", "id": "o3", "sdp": without_vp8(good_offer)}, "no_usable_codec"),
            (
                {
                    "type": "offer",
                    "id": "o4",
                    "sdp": good_offer.replace("UDP/TLS/RTP/SAVPF", "RTP/AVP"),
                },
                "negotiation_failed",
            ),
            (
                {
                    "type": "offer",
                    "id": "o5",
                    "sdp": re.sub(r"a=fingerprint:[^\r]+\r\n", "", good_offer),
                },
                "negotiation_failed",
            ),
            (
                {
                    "type": "ice_candidate",
                    "id": "c1",
                    "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                },
                "bad_state",
            ),
            ({"type": "ice_candidate", "id": "c2", "candidate": "garbage"}, "negotiation_failed"),
        ]
        async with websockets.connect(signaling_url(hub.url)) as ws:
            await ws.send(json.dumps({"type": "join", "id": "j", "token": token}))
            assert json.loads(await ws.recv())["type"] == "joined"
            for message, code in cases:
                await ws.send(json.dumps(message))
                while True:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if reply["type"] in ("error", "answer"):
                        break
                assert reply == {
                    "type": "error",
                    "id": message["id"],
                    "code": code,
                    "message": reply["message"],
                }

        # A classroom token without the publish grant cannot offer to publish.
        catalog = hub.services.catalog
        no_publish = TokenIssuer(JWT_SECRET, 600).issue(
            sub="classroom:nopublish",
            role=Role.CLASSROOM,
            lesson=lesson.lesson_id,
            classroom_id=lesson.classroom_ids[1],
            can_subscribe=True,
            credential_id=int(lesson.credentials[1].split("_")[1]),
            lesson_key=(await catalog.get_lesson(lesson.lesson_id)).row_key,
            classroom_key=(await catalog.get_classroom(lesson.classroom_ids[1])).row_key,
        )
        async with websockets.connect(signaling_url(hub.url)) as ws:
            await ws.send(json.dumps({"type": "join", "id": "j", "token": no_publish}))
            assert json.loads(await ws.recv())["type"] == "joined"
            await ws.send(json.dumps({"type": "offer", "id": "p", "sdp": good_offer}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (reply["type"], reply["code"]) == ("error", "forbidden")

        # The other session's frames kept flowing throughout.
        after = await latest_counter(watcher, decoder)
        assert after > before
    finally:
        await watcher.close()
        await lecturer.close()
