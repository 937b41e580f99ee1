"""Trickle ICE over WHIP (RFC 9725 section 4.3, RFC 8840 fragments): a publisher whose offer
carries no candidate sends them in a PATCH and teaches a classroom; the hub's candidate policy
holds for trickled candidates as for offered ones; an ICE restart is refused (422)."""

from __future__ import annotations

import asyncio

import httpx
from aiortc import RTCIceCandidate

from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.protocol import Slot
from streamhub.signaling.whip import WhipSession
from tests.support.frames import AGENT_CODECS, first_frame
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually
from tests.support.whip import WhipClient

TRICKLE = "application/trickle-ice-sdpfrag"


def remote_candidates(session: WhipSession) -> list[RTCIceCandidate]:
    """The client's candidates as the hub's ICE transport knows them (every m-line is bundled
    on the first one's transport): trickled, offered, or learnt from its checks (prflx)."""
    assert session.peer is not None
    transceiver = session.peer.pc.getTransceivers()[0]
    return list(transceiver.receiver.transport.transport.getRemoteCandidates())


def only_session(hub: InProcessHub) -> WhipSession:
    sessions = list(hub.services.whip.sessions.values())
    assert len(sessions) == 1, sessions
    return sessions[0]


async def test_a_publisher_that_trickles_its_candidates_teaches_a_classroom(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=True)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264", trickle=True)
    classroom = LessonClient(
        hub.url, await admin.device_token(lesson.credentials[0]), codecs=AGENT_CODECS
    )
    try:
        response = await whip.publish()
        assert response.status_code == 201, response.text
        assert response.headers["accept-patch"] == TRICKLE
        assert whip.patched is not None
        assert whip.patched.status_code == 204, whip.patched.text
        session = only_session(hub)
        assert session.offer is not None and "a=candidate:" not in session.offer.sdp
        assert whip.pc is not None
        await eventually(lambda: whip.pc.connectionState == "connected", timeout=20)

        # The hub knew the client's address from the PATCH before any check came: its ICE
        # transport holds the trickled host candidates and learnt none from the checks.
        # (Without trickle the hub finds the client only as a peer-reflexive candidate.)
        known = remote_candidates(session)
        trickled = whip.fragment().count("a=candidate:")
        assert trickled >= 1
        assert [c.type for c in known] == ["host"] * trickled, known
        peer = session.peer
        assert peer is not None
        await eventually(lambda: peer.connected_at is not None, timeout=20)

        await classroom.connect({Slot.CAMERA: None, Slot.MICROPHONE: None})
        frame = await first_frame(classroom.tracks[Slot.LECTURER_VIDEO], "H264")
        assert (frame.width, frame.height) == (320, 240)
        audio = await asyncio.wait_for(classroom.tracks[Slot.LECTURER_AUDIO].recv(), 10)
        assert FrameDecoder("opus").decode(audio)

        # end-of-candidates alone is a fragment too; candidates trickled later still count.
        late = await whip.patch(whip.fragment(candidates=[]))
        assert late.status_code == 204, late.text
    finally:
        await classroom.close()
        await whip.close()


async def test_trickled_candidates_pass_the_candidate_policy(
    hub: InProcessHub, admin: AdminApi
) -> None:
    """Loopback is allowed here (as in every test hub); multicast, the unspecified address and
    a name are never: they are dropped (204, as from an offer), loopback ones are added."""
    lesson = await admin.lesson(classrooms=1, start=True)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264", trickle=True)
    try:
        assert (await whip.publish()).status_code == 201
        session = only_session(hub)
        before = {(c.ip, c.port) for c in remote_candidates(session)}
        refused = [
            "1 1 udp 2130706431 224.0.0.251 5353 typ host",
            "2 1 udp 2130706431 0.0.0.0 9 typ host",
            "3 1 udp 2130706431 3c1e1bd0-0000-4000-8000-000000000000.local 9 typ host",
        ]
        loopback = "4 1 udp 2130706431 127.0.0.1 9 typ host"
        patched = await whip.patch(whip.fragment(candidates=[*refused, loopback], end=False))
        assert patched.status_code == 204, patched.text
        now = {(c.ip, c.port) for c in remote_candidates(session)}
        assert now - before == {("127.0.0.1", 9)}
        # The session goes on.
        assert whip.pc is not None
        await eventually(lambda: whip.pc.connectionState == "connected", timeout=20)
        assert session in hub.services.whip.sessions.values()
    finally:
        await whip.close()


async def test_patch_options_and_preflight_say_what_a_session_takes(
    hub: InProcessHub, admin: AdminApi
) -> None:
    lesson = await admin.lesson(classrooms=1, start=True)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    origin = hub.settings.effective_public_url
    try:
        response = await whip.publish()
        assert response.status_code == 201
        assert response.headers["accept-patch"] == TRICKLE
        async with httpx.AsyncClient(base_url=hub.url, timeout=15) as http:
            endpoint = await http.options(f"/whip/{lesson.code}")
            assert endpoint.headers["accept-patch"] == TRICKLE
            session = await http.options(whip.location)
            assert session.status_code == 204
            assert session.headers["accept-patch"] == TRICKLE
            preflight = await http.options(
                whip.location,
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "PATCH",
                    "Access-Control-Request-Headers": "authorization, content-type, if-match",
                },
            )
            assert preflight.status_code == 204
            assert "PATCH" in preflight.headers["access-control-allow-methods"]
            assert "If-Match" in preflight.headers["access-control-allow-headers"]
            assert preflight.headers["accept-patch"] == TRICKLE
    finally:
        await whip.close()
