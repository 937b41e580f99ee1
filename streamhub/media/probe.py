"""ICE probes: a short-lived peer connection with one data channel, answered exactly like a
lesson's (the hub's host addresses, announced address and UDP port range), so a connection
check learns whether media would reach *this* hub's media ports from where it runs, without a
lesson. The channel echoes what it receives (the checker measures its round trip).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from streamhub.config import IceSettings
from streamhub.errors import BadRequest, ErrorCode, StreamhubError
from streamhub.media.ice import announce_address, rtc_configuration

logger = logging.getLogger(__name__)

MAX_OFFER_BYTES = 16 * 1024
# Long enough for ICE to fail on its own, short enough that probes cannot pile up.
PROBE_LIFETIME_S = 20.0
LINGER_AFTER_CONNECTED_S = 5.0


class ProbesBusy(StreamhubError):
    """Too many connection checks are running; try again in a few seconds."""

    code = ErrorCode.PROBES_BUSY
    status = 503


def validate_probe_offer(sdp: str) -> None:
    if len(sdp.encode()) > MAX_OFFER_BYTES:
        raise BadRequest(f"offer larger than {MAX_OFFER_BYTES} bytes", code=ErrorCode.BAD_OFFER)
    try:
        description = SessionDescription.parse(sdp)
    except Exception:  # aiortc's parser raises whatever the bytes provoke
        raise BadRequest("unparseable SDP offer", code=ErrorCode.BAD_OFFER) from None
    media = description.media
    if len(media) != 1 or media[0].kind != "application":
        raise BadRequest(
            "a probe offer has exactly one data channel m-line", code=ErrorCode.BAD_OFFER
        )
    m = media[0]
    if m.dtls is None or not m.dtls.fingerprints:
        raise BadRequest("DTLS fingerprint missing", code=ErrorCode.BAD_OFFER)
    if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
        raise BadRequest("ICE credentials missing", code=ErrorCode.BAD_OFFER)
    if m.sctp_port is None and not m.sctpmap:
        raise BadRequest("no SCTP association offered", code=ErrorCode.BAD_OFFER)


class IceProbes:
    """The running probes of one hub (bounded in number and lifetime)."""

    def __init__(self, ice: IceSettings, limit: int = 16) -> None:
        self.ice = ice
        self.limit = limit
        self._tasks: set[asyncio.Task[None]] = set()
        self.answered = 0

    async def answer(self, offer_sdp: str) -> str:
        validate_probe_offer(offer_sdp)
        if len(self._tasks) >= self.limit:
            raise ProbesBusy()
        pc = RTCPeerConnection(rtc_configuration(self.ice))

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            def echo(message: bytes | str) -> None:
                with contextlib.suppress(Exception):
                    channel.send(message)

            channel.on("message", echo)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            await pc.close()
            raise BadRequest(f"offer refused: {exc}", code=ErrorCode.BAD_OFFER) from None
        task = asyncio.get_running_loop().create_task(self._expire(pc), name="ice-probe")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.answered += 1
        return announce_address(
            pc.localDescription.sdp, self.ice.addresses, self.ice.announced_address
        )

    async def _expire(self, pc: RTCPeerConnection) -> None:
        deadline = time.monotonic() + PROBE_LIFETIME_S
        try:
            while time.monotonic() < deadline and pc.connectionState not in ("failed", "closed"):
                if pc.connectionState == "connected":
                    deadline = min(deadline, time.monotonic() + LINGER_AFTER_CONNECTED_S)
                await asyncio.sleep(0.25)
        finally:
            await pc.close()

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
