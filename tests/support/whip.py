"""A WHIP client built on aiortc, as OBS is one: an offer with every candidate, POSTed once."""

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
    video: PatternVideoTrack | None = None
    audio: MediaStreamTrack | None = None
    pc: RTCPeerConnection | None = None
    response: httpx.Response | None = None
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
        """POST the offer; on 201 apply the answer. Returns the response either way."""
        sdp = await self.offer()
        self.response = await self.http.post(
            self.endpoint,
            content=sdp.encode(),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
        )
        if self.response.status_code == 201:
            assert self.pc is not None
            answer = RTCSessionDescription(self.response.text, "answer")
            await self.pc.setRemoteDescription(answer)
        return self.response

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
