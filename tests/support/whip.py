"""A WHIP client built on aiortc, as OBS is one: an offer with every candidate, POSTed once; or,
with ``trickle``, an offer without candidates whose candidates follow in a PATCH (RFC 9725
section 4.3), as browser WHIP clients that trickle do."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack


@dataclass
class WhipClient:
    """Publishes a test pattern (``video_codec``) and, unless ``with_audio`` is false (a
    screen), a tone to ``endpoint``."""

    endpoint: str  # http://hub/whip/CODE, or http://hub/whip/CODE/screen
    token: str
    video_codec: str = "H264"
    width: int = 320
    height: int = 240
    with_audio: bool = True
    trickle: bool = False  # the candidates go in a PATCH, not in the offer
    video: PatternVideoTrack | None = None
    audio: MediaStreamTrack | None = None
    pc: RTCPeerConnection | None = None
    response: httpx.Response | None = None
    patched: httpx.Response | None = None  # the PATCH of the candidates (``trickle``)
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=20))

    async def offer(self) -> str:
        """The offer as a WHIP client sends it: gathered, sendonly, one codec for video."""
        # No STUN: aiortc contacts a public STUN server when given no list.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.video = PatternVideoTrack(self.width, self.height)
        video = self.pc.addTransceiver(self.video, direction="sendonly")
        if self.with_audio:
            self.audio = ToneAudioTrack()
            self.pc.addTransceiver(self.audio, direction="sendonly")
        mime = f"video/{self.video_codec}".lower()
        codecs = RTCRtpSender.getCapabilities("video").codecs
        video.setCodecPreferences([c for c in codecs if c.mimeType.lower() == mime])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def publish(self) -> httpx.Response:
        """POST the offer; on 201 (and, with ``trickle``, the PATCH of the candidates: 204)
        apply the answer. Returns the POST's response either way."""
        sdp = await self.offer()
        if self.trickle:
            sdp = without_candidates(sdp)
        self.response = await self.http.post(
            self.endpoint,
            content=sdp.encode(),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
        )
        if self.response.status_code == 201:
            assert self.pc is not None
            if self.trickle:
                # Before the answer is applied: no check of this client reaches the hub before
                # its candidates do.
                self.patched = await self.patch(self.fragment())
                if self.patched.status_code != 204:
                    return self.response
            answer = RTCSessionDescription(self.response.text, "answer")
            await self.pc.setRemoteDescription(answer)
        return self.response

    def fragment(self, candidates: list[str] | None = None, end: bool = True) -> str:
        """An RFC 8840 SDP fragment for this client's ICE session: its credentials, the first
        m-line (every other is bundled on it) and ``candidates`` (``a=candidate:`` values;
        by default those it gathered)."""
        assert self.pc is not None and self.pc.localDescription is not None
        lines = self.pc.localDescription.sdp.splitlines()
        ufrag = next(line for line in lines if line.startswith("a=ice-ufrag:"))
        pwd = next(line for line in lines if line.startswith("a=ice-pwd:"))
        first_m = next(i for i, line in enumerate(lines) if line.startswith("m="))
        second_m = next(
            (i for i, line in enumerate(lines) if line.startswith("m=") and i > first_m),
            len(lines),
        )
        section = lines[first_m:second_m]
        mid = next(line for line in section if line.startswith("a=mid:"))
        if candidates is None:
            prefix = "a=candidate:"
            candidates = [line[len(prefix) :] for line in section if line.startswith(prefix)]
        body = [ufrag, pwd, section[0], mid, *(f"a=candidate:{c}" for c in candidates)]
        if end:
            body.append("a=end-of-candidates")
        return "\r\n".join(body) + "\r\n"

    async def patch(
        self, body: str | bytes, if_match: str | None = "etag", **headers: str
    ) -> httpx.Response:
        """PATCH the session (``if_match``: the 201's ETag by default, None for no header)."""
        assert self.response is not None
        sent = {
            "Content-Type": "application/trickle-ice-sdpfrag",
            "Authorization": f"Bearer {self.token}",
        }
        if if_match == "etag":
            if_match = self.response.headers["etag"]
        if if_match is not None:
            sent["If-Match"] = if_match
        url = httpx.URL(self.endpoint).join(self.location)
        content = body.encode() if isinstance(body, str) else body
        return await self.http.patch(url, content=content, headers={**sent, **headers})

    @property
    def location(self) -> str:
        assert self.response is not None
        return str(self.response.headers["location"])

    async def delete(self) -> httpx.Response:
        """End the session (the Location is relative to the endpoint)."""
        url = httpx.URL(self.endpoint).join(self.location)
        return await self.http.delete(url, headers={"Authorization": f"Bearer {self.token}"})

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        await self.http.aclose()


def without_candidates(sdp: str) -> str:
    """The SDP without its candidate and end-of-candidates lines."""
    kept = [
        line
        for line in sdp.splitlines()
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    ]
    return "\r\n".join(kept) + "\r\n"
