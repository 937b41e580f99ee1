"""WHIP refusals: each bad request gets the status RFC 9725 (or HTTP) gives it as problem+json,
and the lesson being taught over WHIP goes on undisturbed; CORS for browser WHIP clients;
the ICE servers as Link headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamhub.auth.tokens import TokenIssuer
from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack, read_counter
from streamhub.protocol import Role, ScreenShare, Slot
from tests.support.frames import AGENT_CODECS
from tests.support.hub import ADMIN_KEY, JWT_SECRET, AdminApi, InProcessHub, LessonSetup
from tests.support.whip import WhipClient

PROBLEM = "application/problem+json"
NODE_URL = "http://127.0.0.1:8101"


@dataclass
class Taught:
    """Lesson A taught over WHIP to one classroom; lesson B live, nobody in it."""

    a: LessonSetup
    b: LessonSetup
    whip: WhipClient
    classroom: LessonClient
    decoder: FrameDecoder
    offer: str  # a well-formed offer, for requests that must fail for another reason


async def picture(t: Taught, timeout: float = 20.0) -> Any:
    async def run() -> Any:
        while True:
            frames = t.decoder.decode(await t.classroom.tracks[Slot.LECTURER_VIDEO].recv())
            if frames:
                return frames[-1]

    return await asyncio.wait_for(run(), timeout)


@pytest.fixture
async def taught(hub: InProcessHub, admin: AdminApi) -> AsyncIterator[Taught]:
    a = await admin.lesson(classrooms=1, title="A")
    b = await admin.lesson(classrooms=1, title="B")
    whip = WhipClient(f"{hub.url}/whip/{a.code}", a.lecturer_token, "H264")
    spare = WhipClient(f"{hub.url}/whip/{a.code}", a.lecturer_token, "H264")
    classroom = LessonClient(
        hub.url, await admin.device_token(a.credentials[0]), codecs=AGENT_CODECS
    )
    try:
        assert (await whip.publish()).status_code == 201
        await classroom.connect({Slot.CAMERA: None, Slot.MICROPHONE: None})
        offer = await spare.offer()
        yield Taught(a, b, whip, classroom, FrameDecoder("H264"), offer)
    finally:
        await classroom.close()
        await spare.close()
        await whip.close()


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (status, response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM, response.headers
    if code is not None:
        assert response.json()["code"] == code, response.json()


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


async def test_bad_requests_are_refused_and_the_lesson_goes_on(
    hub: InProcessHub, admin: AdminApi, taught: Taught
) -> None:
    a, b = taught.a, taught.b
    before = await picture(taught)
    counter_before = read_counter(before)
    room = hub.services.lessons.rooms[a.lesson_id]
    feed = room.feed
    assert feed is not None
    session_url = taught.whip.location
    sdp = {"Content-Type": "application/sdp"}
    expired = TokenIssuer(JWT_SECRET, 600).issue(
        sub=f"lecturer-{a.lesson_id}",
        role=Role.LECTURER,
        lesson=a.lesson_id,
        can_publish=True,
        ttl_s=-5,
    )
    revoked = await admin.post(f"/api/lessons/{a.lesson_id}/lecturer-link")
    assert (await admin.http.delete(f"/api/tokens/{revoked['token_id']}")).status_code == 200
    classroom_token = await admin.device_token(a.credentials[0])
    offer = taught.offer.encode()
    endpoint = f"/whip/{a.code}"
    two_videos = taught.offer.replace("m=audio", "m=video", 1)
    no_fingerprint = "\r\n".join(
        line for line in taught.offer.splitlines() if not line.startswith("a=fingerprint")
    )

    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:

        async def post(token: str | None, body: bytes = offer, **headers: str) -> httpx.Response:
            return await http.post(
                endpoint, content=body, headers={**sdp, **bearer(token), **headers}
            )

        lecturer = a.lecturer_token
        assert_problem(await post(None), 401, "token_missing")
        assert_problem(await post("garbage.not-a.token"), 401)
        assert_problem(await post(expired), 401, "token_expired")
        assert_problem(await post(revoked["token"]), 401, "token_revoked")
        assert_problem(await post(ADMIN_KEY), 403)
        assert_problem(await post(classroom_token), 403)
        assert_problem(await post(b.lecturer_token), 403, "wrong_lesson")
        missing = await http.post(
            "/whip/NOSUCHCODE", content=offer, headers={**sdp, **bearer(lecturer)}
        )
        assert_problem(missing, 404)
        assert_problem(await post(lecturer, **{"Content-Type": "application/json"}), 415)
        assert_problem(await post(lecturer, **{"Content-Type": "text/plain"}), 415)
        assert_problem(await post(lecturer, b"hello, hub"), 400)
        assert_problem(await post(lecturer, b"v=0\r\nm=video\r\n"), 400)
        assert_problem(await post(lecturer, b"\xff\xfe not utf-8"), 400)
        assert_problem(await post(lecturer, no_fingerprint.encode()), 400)
        assert_problem(await post(lecturer, two_videos.encode()), 406)
        too_big = offer + b"a=x-padding:" + b"x" * hub.settings.http.max_body_bytes + b"\r\n"
        assert_problem(await post(lecturer, too_big), 413)
        # A second publisher for the same slots.
        assert_problem(await post(lecturer), 409, "whip_busy")
        assert_problem(await http.get(endpoint, headers=bearer(lecturer)), 405)

        # The session's resource: another lesson's token, an unknown id, the wrong methods.
        async def to_session(
            method: str, url: str, token: str | None, **headers: str
        ) -> httpx.Response:
            return await http.request(method, url, headers={**bearer(token), **headers})

        trickle = {"Content-Type": "application/trickle-ice-sdpfrag"}
        unknown = f"/whip/{a.code}/{'x' * 24}"
        assert_problem(await to_session("DELETE", session_url, None), 401)
        assert_problem(await to_session("DELETE", session_url, classroom_token), 403)
        assert_problem(await to_session("DELETE", session_url, b.lecturer_token), 404)
        assert_problem(
            await to_session("DELETE", f"/whip/{b.code}/{session_url[-24:]}", lecturer), 404
        )
        assert_problem(await to_session("DELETE", unknown, lecturer), 404)
        assert_problem(await to_session("PATCH", unknown, lecturer, **trickle), 404)
        assert_problem(await to_session("PATCH", session_url, None, **trickle), 401)
        assert_problem(await to_session("PATCH", session_url, classroom_token, **trickle), 403)
        assert_problem(await to_session("PATCH", session_url, b.lecturer_token, **trickle), 404)
        other_lesson = f"/whip/{b.code}/{session_url[-24:]}"
        assert_problem(await to_session("PATCH", other_lesson, lecturer, **trickle), 404)
        assert_problem(await to_session("PATCH", session_url, lecturer, **sdp), 415)

        # Trickle ICE (tests/media/test_whip_trickle.py): what a PATCH may not carry.
        whip = taught.whip
        fragment = whip.fragment()
        etag = whip.response.headers["etag"] if whip.response is not None else ""
        assert_problem(await whip.patch(fragment, **sdp), 415)
        # Another ICE session's entity-tag (412); a weak one never matches (strong comparison).
        assert_problem(await whip.patch(fragment, '"another"'), 412, "precondition_failed")
        assert_problem(await whip.patch(fragment, f"W/{etag}"), 412, "precondition_failed")
        # ICE restarts (If-Match: *, or other credentials): not supported, 422 (RFC 9725 4.3.1).
        restart = "ice_restart_unsupported"
        assert_problem(await whip.patch(fragment, "*"), 422, restart)
        assert_problem(await whip.patch(fragment.replace("a=ice-ufrag:", "a=ice-ufrag:x")), 422)
        assert_problem(await whip.patch(fragment.replace("a=ice-pwd:", "a=ice-pwd:x")), 422)
        with_ufrag = fragment.replace(" typ host", " typ host ufrag other")
        assert_problem(await whip.patch(with_ufrag), 422, restart)
        malformed = [
            b"",
            b"hello, hub",
            b"\xff\xfe not utf-8",
            b"a=candidate:1 1 udp\r\n",
            b"a=candidate:1 1 udp 2130706431 127.0.0.1 70000 typ host\r\n",
            b"a=candidate:1 1 sctp 2130706431 127.0.0.1 9 typ host\r\n",
            b"a=candidate:1 one udp 2130706431 127.0.0.1 9 typ host\r\n",
            b"a=candidate:1 1 udp 2130706431 127.0.0.1 9 kind host\r\n",
            b"a=ice-options:trickle\r\n",  # neither a candidate nor end-of-candidates
            fragment.replace("a=mid:0", "a=mid:7").encode(),  # no such m-line
            b"a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n" * 400,  # over 16 kB
        ]
        for body in malformed:
            assert_problem(await whip.patch(body), 400)
        too_big = fragment.encode() + b"a=x:" + b"x" * hub.settings.http.max_body_bytes
        assert_problem(await whip.patch(too_big), 413)
        # Its own candidates again (known already): accepted, with or without If-Match.
        assert (await whip.patch(fragment)).status_code == 204
        assert (await whip.patch(fragment, None)).status_code == 204
        assert_problem(await to_session("GET", session_url, lecturer), 405)
        assert_problem(await to_session("POST", session_url, lecturer, **sdp), 405)

    # Nothing of it reached the lesson: the same publisher, still live, still seen.
    assert room.feed is feed and len(hub.services.whip.sessions) == 1
    assert hub.services.lessons.rooms.get(b.lesson_id) is None or not (
        hub.services.lessons.rooms[b.lesson_id].members
    )
    lesson = (await admin.http.get(f"/api/lessons/{a.lesson_id}")).json()
    assert lesson["status"] == "live"
    after = await picture(taught)
    assert read_counter(after) > counter_before
    assert taught.classroom.closed is None


async def test_a_lecturer_page_publishing_keeps_its_slots(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1)
    page = LessonClient(hub.url, lesson.lecturer_token, codecs=AGENT_CODECS)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "VP8")
    try:
        await page.connect({Slot.CAMERA: PatternVideoTrack(), Slot.MICROPHONE: ToneAudioTrack()})
        room = hub.services.lessons.rooms[lesson.lesson_id]
        codec = room.video_codec
        assert_problem(await whip.publish(), 409, "lecturer_slots_taken")
        assert room.lecturer is not None and room.feed is None
        assert room.video_codec == codec
        assert hub.services.whip.sessions == {}
        # Its screen too, while it shares one.
        await page.request(ScreenShare(on=True))
        screen = WhipClient(
            f"{hub.url}/whip/{lesson.code}/screen", lesson.lecturer_token, "VP8", with_audio=False
        )
        try:
            assert_problem(await screen.publish(), 409, "lecturer_slots_taken")
        finally:
            await screen.close()
        assert room.screen_sharing and room.screen_feed is None
        assert page.closed is None
    finally:
        await whip.close()
        await page.close()


async def test_a_scheduled_lesson_stays_scheduled_after_a_refused_offer(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=False)
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:
        response = await http.post(
            f"/whip/{lesson.code}",
            content=b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
            headers={"Content-Type": "application/sdp", **bearer(lesson.lecturer_token)},
        )
    assert_problem(response, 406)
    status = (await admin.http.get(f"/api/lessons/{lesson.lesson_id}")).json()["status"]
    assert status == "scheduled"
    assert lesson.lesson_id not in hub.services.lessons.rooms


async def test_cors_for_browser_whip_clients(hub: InProcessHub, admin: AdminApi) -> None:
    lesson = await admin.lesson(classrooms=1)
    origin = hub.settings.effective_public_url
    endpoint = f"/whip/{lesson.code}"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:
        allowed = await http.options(endpoint, headers={"Origin": origin, **preflight})
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == origin
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "Authorization" in allowed.headers["access-control-allow-headers"]
        assert allowed.headers["accept-post"] == "application/sdp"
        assert "access-control-allow-private-network" not in allowed.headers
        # Chromium's private network access: a page elsewhere, a hub on the school LAN.
        lan = await http.options(
            endpoint,
            headers={
                "Origin": origin,
                "Access-Control-Request-Private-Network": "true",
                **preflight,
            },
        )
        assert lan.headers["access-control-allow-private-network"] == "true"

        foreign = await http.options(endpoint, headers={"Origin": "https://evil.test", **preflight})
        assert_problem(foreign, 403, "origin_not_allowed")
        foreign_post = await http.post(
            endpoint,
            content=b"v=0\r\n",
            headers={
                "Origin": "https://evil.test",
                "Content-Type": "application/sdp",
                **bearer(lesson.lecturer_token),
            },
        )
        assert_problem(foreign_post, 403, "origin_not_allowed")

        # A refusal reaches a browser readable (CORS headers on the body guard's 401 too).
        refused = await http.post(
            endpoint,
            content=b"v=0\r\n",
            headers={"Origin": origin, "Content-Type": "application/sdp"},
        )
        assert_problem(refused, 401)
        assert refused.headers["access-control-allow-origin"] == origin
        assert "Location" in refused.headers["access-control-expose-headers"]

        plain = await http.options(endpoint)  # not a browser: what the endpoint takes
        assert plain.status_code == 204
        assert plain.headers["accept-post"] == "application/sdp"
        assert "access-control-allow-origin" not in plain.headers


@pytest.fixture
async def turn_hub(tmp_path: Path) -> AsyncIterator[InProcessHub]:
    turn = {
        "urls": ["turns:turn.school.test:443?transport=tcp", "turn:127.0.0.1:3478?transport=udp"],
        "credential": "shared-secret-for-tests",
    }
    async with InProcessHub(
        tmp_path / "hub",
        recorder={"enabled": False},
        ice={"turn_servers": [turn]},
        node_url=NODE_URL,  # as each of several workers has its own
    ) as running:
        yield running


async def test_ice_servers_as_link_headers_and_a_final_location(turn_hub: InProcessHub) -> None:
    admin = AdminApi(turn_hub.url)
    lesson = await admin.lesson(classrooms=1)
    whip = WhipClient(f"{turn_hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    try:
        response = await whip.publish()
        assert response.status_code == 201, response.text
        links = response.headers.get_list("link")
        # TURN over UDP first, TLS last (the join reply's order), each with REST credentials.
        assert [link.split(">")[0] for link in links] == [
            "<turn:127.0.0.1:3478?transport=udp",
            "<turns:turn.school.test:443?transport=tcp",
        ]
        for link in links:
            assert 'rel="ice-server"' in link
            assert 'credential-type="password"' in link
            username = link.split('username="')[1].split('"')[0]
            expiry, _, who = username.partition(":")
            assert int(expiry) > 0 and who.startswith("whip-")
        # Behind a shared port, the session's URL names this node (the DELETE must reach it).
        assert whip.location.startswith(f"{NODE_URL}/whip/{lesson.code}/")
        path = whip.location.removeprefix(NODE_URL)
        deleted = await admin.http.delete(path, headers=bearer(lesson.lecturer_token))
        assert deleted.status_code == 204
    finally:
        await whip.close()
        await admin.close()
