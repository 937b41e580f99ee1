"""Garbage and abuse on the signaling socket while a lesson is live: every frame keeps flowing."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator

import jwt
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamhub.auth.tokens import TokenIssuer
from streamhub.client import LessonClient, signaling_url
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack
from streamhub.protocol import CLIENT_TYPES, Role, Slot
from tests.media.test_bad_input import latest_counter
from tests.support.hub import JWT_SECRET, AdminApi, HubFactory, InProcessHub, LessonSetup


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(
        recorder={"enabled": False},
        # The fuzz sends its cases back to back: the flood limit has its own case below.
        signaling={
            "joins_per_minute": 100000,
            "join_timeout_s": 2.0,
            "messages_per_second": 10000,
            "burst": 1000,
            "chat_per_second": 10000,
            "chat_burst": 1000,
            "control_per_second": 10000,
            "control_burst": 1000,
        },
        # A thousand abandoned sockets from one address: the join timeout is under test here,
        # not the per-address cap (tests/http has its own case).
        http={"max_connections_per_address": 5000},
    )


@pytest.fixture
async def live(hub: InProcessHub) -> AsyncIterator[tuple[LessonSetup, LessonClient, LessonClient]]:
    api = AdminApi(hub.url)
    lesson = await api.lesson(classrooms=2)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    await lecturer.connect({Slot.CAMERA: PatternVideoTrack(160, 120)})
    watcher = LessonClient(hub.url, await api.device_token(lesson.credentials[0]))
    await watcher.connect({})
    lesson.credentials[1] = await api.device_token(lesson.credentials[1])
    await api.close()
    yield lesson, lecturer, watcher
    await watcher.close()
    await lecturer.close()


values = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
)
bodies = st.builds(
    lambda kind, extra: {**extra, "type": kind},
    st.sampled_from(sorted(CLIENT_TYPES - {"join", "leave"})),
    st.dictionaries(
        st.sampled_from(
            ["id", "participant", "text", "on", "muted", "enabled", "sdp", "candidate", "fps"]
        ),
        values,
        max_size=4,
    ),
)


async def test_fuzzed_messages_of_every_type_never_break_the_hub(
    hub: InProcessHub, live: tuple[LessonSetup, LessonClient, LessonClient]
) -> None:
    lesson, _, watcher = live
    decoder = FrameDecoder("VP8")
    before = await latest_counter(watcher, decoder)
    ws = await websockets.connect(signaling_url(hub.url))
    await ws.send(json.dumps({"type": "join", "token": lesson.credentials[1]}))
    assert json.loads(await ws.recv())["type"] == "joined"
    cases = 0
    kinds: set[str] = set()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(bodies)
    def collect(body: dict) -> None:
        batch.append(body)

    batch: list[dict] = []
    collect()
    for body in batch:
        await ws.send(json.dumps(body))
        cases += 1
        kinds.add(body["type"])
    # Every message got its reply or error, and the socket is still usable.
    await ws.send(json.dumps({"type": "pong", "id": "last"}))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["type"] != "error" or reply["code"] != "internal", reply
        if reply.get("id") == "last":
            break
    await ws.close()
    after = await latest_counter(watcher, decoder)
    assert after > before
    print(f"signaling fuzz: {cases} messages over {len(kinds)} types, 0 internal errors")
    assert kinds == CLIENT_TYPES - {"join", "leave"}


def _forged(alg_none: bool, **claims: object) -> str:
    if alg_none:
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
        return f"{header.decode()}.{body.decode()}."
    return jwt.encode(claims, "not-the-hub-secret-0123456789abcdef", algorithm="HS256")


async def test_token_table_every_bad_token_is_refused(
    hub: InProcessHub, live: tuple[LessonSetup, LessonClient, LessonClient]
) -> None:
    lesson, _, watcher = live
    issuer = TokenIssuer(JWT_SECRET, 600)
    now = int(time.time())
    lid = lesson.lesson_id
    claims = {
        **{"iss": "streamhub", "sub": "lecturer:x", "role": "lecturer", "lesson": lid},
        **{"can_publish": True, "iat": now, "exp": now + 600, "jti": "x"},
    }
    lecturer = Role.LECTURER
    table = {
        "wrong signature": (_forged(False, **claims), "token_invalid"),
        "alg none": (_forged(True, **claims), "token_invalid"),
        "expired": (issuer.issue(sub="l:x", role=lecturer, lesson=lid, ttl_s=-5), "token_expired"),
        "another lesson": (
            issuer.issue(sub="l:x", role=lecturer, lesson=lid + 7),
            "token_invalid",  # minted without the row bindings the hub puts in its tokens
        ),
        "staff role": (issuer.issue(sub="staff:x", role=Role.STAFF, lesson=lid), "forbidden"),
        "admin role": (issuer.issue(sub="admin", role=Role.ADMIN, lesson=lid), "forbidden"),
        "no lesson": (issuer.issue(sub="l:x", role=lecturer), "forbidden"),
        "garbage": ("x" * 64, "token_invalid"),
    }
    refused = {}
    for name, (token, code) in table.items():
        async with websockets.connect(signaling_url(hub.url)) as ws:
            await ws.send(json.dumps({"type": "join", "token": token}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            refused[name] = reply.get("code")
            assert (reply["type"], reply["code"]) == ("error", code), name
    print("token table:", refused)
    await asyncio.wait_for(watcher.tracks[Slot.LECTURER_VIDEO].recv(), 5)


async def test_abandoned_sockets_and_oversize_frames_do_not_exhaust_the_hub(
    hub: InProcessHub, live: tuple[LessonSetup, LessonClient, LessonClient]
) -> None:
    _, _, watcher = live
    decoder = FrameDecoder("VP8")
    before = await latest_counter(watcher, decoder)
    sockets = []
    for _ in range(1000):
        sockets.append(await websockets.connect(signaling_url(hub.url), open_timeout=10))
    # Never joining: the join timeout (2 s here) closes every one of them.
    await asyncio.sleep(hub.settings.signaling.join_timeout_s + 1.5)
    closed = 0
    for ws in sockets:
        try:
            await asyncio.wait_for(ws.recv(), 0.5)
            await asyncio.wait_for(ws.recv(), 0.5)
        except websockets.ConnectionClosed:
            closed += 1
        except TimeoutError:
            pass
        await ws.close()
    assert closed == 1000

    # A frame far over the limit is cut off by the server before it is buffered whole.
    ws = await websockets.connect(signaling_url(hub.url), max_size=None)
    with pytest.raises(websockets.ConnectionClosed):
        await ws.send("x" * (hub.settings.signaling.max_message_bytes * 8))
        await asyncio.wait_for(ws.recv(), 5)
        await asyncio.wait_for(ws.recv(), 5)
    after = await latest_counter(watcher, decoder)
    assert after > before
    print("abuse: 1000 abandoned sockets closed by the join timeout; oversize frame closed")
