"""Mutated SDP offers all get a typed error (or a valid answer), and the lesson goes on."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
import websockets

from streamhub.client import LessonClient, signaling_url
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack
from streamhub.protocol import Slot
from tests.media.test_bad_input import classroom_offer, latest_counter
from tests.support.hub import AdminApi, HubFactory, InProcessHub

CASES = 300


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    # Every accepted mutation starts a new session: lift the per-identity join limit.
    return await make_hub(recorder={"enabled": False}, signaling={"joins_per_minute": 10000})


def mutations(offer: str, rng: random.Random) -> list[tuple[str, str]]:
    lines = offer.split("\r\n")
    media_start = [i for i, line in enumerate(lines) if line.startswith("m=")]
    out = [
        ("truncated", offer[: rng.randrange(1, len(offer))]),
        ("huge", offer + "a=x-junk:" + "y" * 20000 + "\r\n"),
        ("duplicate m-line", "\r\n".join(lines + lines[media_start[0] : media_start[1]])),
        (
            "wrong codecs",
            offer.replace("VP8/90000", "XYZ/90000").replace("opus/48000", "foo/48000"),
        ),
        ("no media", "\r\n".join(lines[: media_start[0]])),
        (
            "dropped line",
            "\r\n".join(line for i, line in enumerate(lines) if i != rng.randrange(len(lines))),
        ),
        (
            "swapped kinds",
            offer.replace("m=video", "m=tmp")
            .replace("m=audio", "m=video")
            .replace("m=tmp", "m=audio"),
        ),
        ("bad port", offer.replace(" 9 UDP", " 99999999999 UDP")),
        (
            "binary junk",
            "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(1, 400))),
        ),
    ]
    chars = list(offer)
    for _ in range(rng.randrange(1, 30)):
        chars[rng.randrange(len(chars))] = chr(rng.randrange(32, 127))
    out.append(("flipped chars", "".join(chars)))
    return out


async def test_mutated_offers_get_typed_errors(hub: InProcessHub, admin: AdminApi) -> None:
    lesson = await admin.lesson(classrooms=2)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    await lecturer.connect({Slot.CAMERA: PatternVideoTrack(160, 120)})
    watcher = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
    await watcher.connect({})
    token = await admin.device_token(lesson.credentials[1])
    offer = await classroom_offer()
    rng = random.Random(1234)
    outcomes: dict[str, int] = {}
    decoder = FrameDecoder("VP8")
    try:
        before = await latest_counter(watcher, decoder)
        run = 0
        while run < CASES:
            # A fresh session now and then: an accepted offer leaves the connection negotiated.
            async with websockets.connect(signaling_url(hub.url), max_size=1 << 22) as ws:
                await ws.send(json.dumps({"type": "join", "token": token}))
                assert json.loads(await ws.recv())["type"] == "joined"
                for name, sdp in mutations(offer, rng):
                    run += 1
                    await ws.send(json.dumps({"type": "offer", "id": f"m{run}", "sdp": sdp}))
                    while True:
                        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        if reply.get("id") == f"m{run}":
                            break
                    if reply["type"] == "answer":
                        outcomes["accepted"] = outcomes.get("accepted", 0) + 1
                        break  # this session is negotiated now; start another
                    assert reply["type"] == "error", (name, reply)
                    assert reply["code"] in {
                        "negotiation_failed",
                        "no_usable_codec",
                        "invalid_message",
                        "too_large",
                        "bad_state",
                    }, (name, reply)
                    outcomes[reply["code"]] = outcomes.get(reply["code"], 0) + 1
        after = await latest_counter(watcher, decoder)
        assert after > before
        print(f"SDP fuzz: {run} mutated offers: {outcomes}")
        assert sum(outcomes.values()) == run
    finally:
        await watcher.close()
        await lecturer.close()
