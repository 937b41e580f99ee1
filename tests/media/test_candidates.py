"""Remote ICE candidates are limited, and a participant whose media never connects is closed
(issue 13, item 4), against a real in-process hub with real aiortc peers."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection

from streamhub.client import LessonClient, signaling_url
from streamhub.client.decode import FrameDecoder
from streamhub.protocol import Slot
from tests.media.test_bad_input import latest_counter
from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.support.wait import eventually

PEER_TIMEOUT_S = 2.0
LIMIT = 8


def hub_settings(allow_loopback: bool) -> dict[str, Any]:
    return {
        "recorder": {"enabled": False},
        "signaling": {"peer_timeout_s": PEER_TIMEOUT_S, "joins_per_minute": 1000},
        # The production default refuses loopback candidates; the tests' default allows them.
        "ice": {
            "allowed_remote_networks": ["127.0.0.0/8"] if allow_loopback else [],
            "remote_candidates_max": LIMIT,
        },
    }


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(**hub_settings(True))


@pytest.fixture
async def strict_hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(**hub_settings(False))


async def offer_sdp() -> tuple[RTCPeerConnection, str]:
    """A real aiortc offer in the classroom layout (its own candidates are on 127.0.0.1)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="sendonly")
    pc.addTransceiver("audio", direction="sendonly")
    for kind in ("video", "audio", "video", "video", "audio"):
        pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


class RawClassroom:
    """A classroom speaking the protocol by hand: it offers, but never lets media connect."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def join(cls, hub: InProcessHub, token: str) -> RawClassroom:
        ws = await websockets.connect(signaling_url(hub.url))
        await ws.send(json.dumps({"type": "join", "id": "j", "token": token}))
        client = cls(ws)
        assert (await client.reply("j"))["type"] == "joined"
        return client

    async def reply(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            while True:
                message = json.loads(await self.ws.recv())
                if message.get("id") == request_id:
                    return message  # type: ignore[no-any-return]

        return await asyncio.wait_for(find(), timeout)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send(json.dumps(message))
        return await self.reply(message["id"])

    async def candidate(self, n: int, address: str, port: int) -> dict[str, Any]:
        line = f"candidate:{n} 1 udp 2130706431 {address} {port} typ host"
        return await self.request(
            {"type": "ice_candidate", "id": f"c{n}", "candidate": line, "sdp_mid": "0"}
        )

    async def closing_error(self, timeout: float = 20.0) -> tuple[str, int | None]:
        """The last error before the hub closes the socket, and the close code."""
        code = None
        try:
            while True:
                message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
                if message["type"] == "error":
                    code = message["code"]
        except websockets.ConnectionClosed:
            return code or "", self.ws.close_code


def remote_candidates(hub: InProcessHub, lesson_id: int) -> list[tuple[str, int, str]]:
    """The candidates the hub's ICE agents were given, for every member of the lesson."""
    found = []
    for member in hub.services.lessons.rooms[lesson_id].members.values():
        if member.peer is None:
            continue
        for transceiver in member.peer.pc.getTransceivers():
            ice = transceiver.receiver.transport.transport
            found += [(c.host, c.port, c.type) for c in ice._connection._remote_candidates]
    return found


async def test_members_whose_media_never_connects_are_closed(
    hub: InProcessHub, admin: AdminApi
) -> None:
    setup = await admin.lesson(classrooms=2)
    lecturer = await lecturer_teaching(hub.url, setup.lecturer_token, 160, 120)
    pcs = []
    try:
        # One never offers; the other offers but never lets its media connect.
        silent = await RawClassroom.join(hub, await admin.device_token(setup.credentials[0]))
        stalled = await RawClassroom.join(hub, await admin.device_token(setup.credentials[1]))
        pc, sdp = await offer_sdp()
        pcs.append(pc)
        assert (await stalled.request({"type": "offer", "id": "o", "sdp": sdp}))["type"] == "answer"
        for client in (silent, stalled):
            assert await client.closing_error() == ("media_timeout", 4499)
        room = hub.services.lessons.rooms[setup.lesson_id]
        await eventually(lambda: len(room.classrooms()) == 0, 10)
        # A member whose media connected is not touched by the deadline.
        assert lecturer.closed is None
    finally:
        for pc in pcs:
            await pc.close()
        await lecturer.close()


async def test_the_hub_checks_only_candidates_it_accepts(
    hub: InProcessHub, strict_hub: InProcessHub
) -> None:
    """A UDP socket on loopback stands for a service the client would aim the hub at."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    pcs = []
    try:
        for running, allowed in ((strict_hub, False), (hub, True)):
            api = AdminApi(running.url)
            setup = await api.lesson(classrooms=1)
            client = await RawClassroom.join(running, await api.device_token(setup.credentials[0]))
            pc, sdp = await offer_sdp()
            pcs.append(pc)
            if allowed:
                # Trickle only, as browsers do: the hub has no other candidate to try.
                sdp = "\r\n".join(x for x in sdp.split("\r\n") if "candidate" not in x)
            answer = await client.request({"type": "offer", "id": "o", "sdp": sdp})
            assert answer["type"] == "answer"
            reply = await client.candidate(1, "127.0.0.1", port)
            if allowed:
                assert reply["type"] == "ack", reply

                async def stun_arrived() -> bool:
                    data = await asyncio.wait_for(
                        asyncio.get_running_loop().sock_recv(listener, 2048), 10
                    )
                    return data[:2] == b"\x00\x01"  # a STUN Binding request

                assert await eventually(stun_arrived, 15)
            else:
                assert (reply["type"], reply["code"]) == ("error", "candidate_refused"), reply
                # Neither the trickled candidate nor the offer's own loopback ones reached
                # the hub's ICE agent: it has nowhere to send checks.
                assert remote_candidates(running, setup.lesson_id) == []
            await client.ws.close()
            await api.close()
    finally:
        listener.close()
        for pc in pcs:
            await pc.close()


async def test_a_participant_names_a_bounded_number_of_candidates(
    hub: InProcessHub, admin: AdminApi
) -> None:
    setup = await admin.lesson(classrooms=1)
    client = await RawClassroom.join(hub, await admin.device_token(setup.credentials[0]))
    pc, sdp = await offer_sdp()
    try:
        assert (await client.request({"type": "offer", "id": "o", "sdp": sdp}))["type"] == "answer"
        replies = [await client.candidate(n, "127.0.0.9", 20000 + n) for n in range(LIMIT + 5)]
        accepted = [r for r in replies if r["type"] == "ack"]
        refused = [r for r in replies if r["type"] == "error"]
        assert len(accepted) < LIMIT  # the offer's own candidate counts too
        assert len(accepted) + len(refused) == LIMIT + 5
        assert {r["code"] for r in refused} == {"candidate_refused"}
        # A candidate already named is not counted twice.
        assert (await client.candidate(99, "127.0.0.9", 20000))["type"] == "ack"
        assert len(set(remote_candidates(hub, setup.lesson_id))) <= LIMIT
    finally:
        await client.ws.close()
        await pc.close()


async def test_a_loopback_client_connects_under_the_production_default(
    strict_hub: InProcessHub,
) -> None:
    """`make run` on one machine: the hub refuses the agent's loopback candidates, and the
    agent's own checks (peer-reflexive) still connect its media."""
    api = AdminApi(strict_hub.url)
    setup = await api.lesson(classrooms=1)
    lecturer = await lecturer_teaching(strict_hub.url, setup.lecturer_token, 160, 120)
    watcher = LessonClient(strict_hub.url, await api.device_token(setup.credentials[0]))
    try:
        await watcher.connect({})
        decoder = FrameDecoder("VP8")
        assert await latest_counter(watcher, decoder) >= 0
        # The hub knows the agent's address from the agent's own checks (peer-reflexive),
        # not from its word.
        learnt = remote_candidates(strict_hub, setup.lesson_id)
        assert learnt and {kind for _, _, kind in learnt} == {"prflx"}, learnt
        await asyncio.wait_for(watcher.tracks[Slot.LECTURER_VIDEO].recv(), 5)
    finally:
        await watcher.close()
        await lecturer.close()
        await api.close()
