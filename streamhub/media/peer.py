"""A participant's one RTCPeerConnection with the hub.

The client always offers (protocol.py explains the rule); the hub validates the offer against
the role's fixed slot layout, attaches its slot tracks and answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription, candidate_from_sdp

from streamhub.errors import NegotiationError
from streamhub.media import aiortc_hooks
from streamhub.media.forwarder import OutTrack, TrackSource
from streamhub.media.ice import CandidatePolicy
from streamhub.media.keyframes import KeyframeRequester
from streamhub.media.rtp_send import RtpSendLeg
from streamhub.protocol import PUBLISH_SLOTS, SLOT_KIND, ErrorCode, Slot

logger = logging.getLogger(__name__)

SECURE_PROFILE = "UDP/TLS/RTP/SAVPF"


@dataclass
class PeerStats:
    bitrate_in_kbps: float = 0.0
    bitrate_out_kbps: float = 0.0
    packet_loss: float = 0.0
    rtt_ms: float | None = None


def validate_offer(sdp: str, layout: list[Slot], video_mime: str) -> SessionDescription:
    """Check an offer before aiortc sees it; raise NegotiationError with a precise reason."""
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises whatever the bytes provoke
        raise NegotiationError(f"unparseable SDP: {type(exc).__name__}") from None
    media = description.media
    if len(media) != len(layout):
        raise NegotiationError(f"offer has {len(media)} m-lines, the layout needs {len(layout)}")
    mids: set[str] = set()
    for index, (m, slot) in enumerate(zip(media, layout, strict=True)):
        where = f"m-line {index} ({slot.value})"
        if m.kind != SLOT_KIND[slot]:
            raise NegotiationError(f"{where}: expected {SLOT_KIND[slot]}, got {m.kind}")
        if m.profile != SECURE_PROFILE:
            # DTLS-SRTP is mandatory; no setting turns it off.
            raise NegotiationError(f"{where}: profile must be {SECURE_PROFILE}")
        if m.dtls is None or not m.dtls.fingerprints:
            raise NegotiationError(f"{where}: DTLS fingerprint missing")
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            raise NegotiationError(f"{where}: ICE credentials missing")
        mid = m.rtp.muxId
        if not mid or mid in mids:
            raise NegotiationError(f"{where}: missing or duplicate mid")
        mids.add(mid)
        wanted = video_mime if m.kind == "video" else "audio/opus"
        if not any(c.mimeType.lower() == wanted.lower() for c in m.rtp.codecs):
            raise NegotiationError(
                f"{where}: no {wanted} codec offered", code=ErrorCode.NO_USABLE_CODEC
            )
        publishing = slot in PUBLISH_SLOTS
        allowed = (
            {"sendonly", "sendrecv", "inactive"}
            if publishing
            else {"recvonly", "sendrecv", "inactive"}
        )
        if m.direction not in allowed:
            raise NegotiationError(f"{where}: direction {m.direction} not allowed")
    return description


class HubPeer:
    """The hub's end of one participant's peer connection."""

    def __init__(
        self,
        label: str,
        configuration: RTCConfiguration,
        video_mime: str,
        keyframe_interval_s: float,
        on_failed: Callable[[], None],
        on_keyframe_sent: Callable[[], None] | None = None,
        candidates: CandidatePolicy | None = None,
    ) -> None:
        self.label = label
        self.candidates = candidates
        self.pc = RTCPeerConnection(configuration)
        self.video_mime = video_mime
        self.sources: dict[Slot, TrackSource] = {}
        self.mids: dict[str, int] = {}
        self._keyframe_interval_s = keyframe_interval_s
        self._on_keyframe_sent = on_keyframe_sent
        self._on_failed = on_failed
        self._lock = asyncio.Lock()
        self._closed = False
        self._last_bytes: tuple[float, int, int] | None = None
        self.connected_at: float | None = None
        self.pc.on("connectionstatechange", self._state_changed)

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    async def _state_changed(self) -> None:
        state = self.pc.connectionState
        logger.info("peer %s connection %s", self.label, state)
        if state == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()
        if state in ("failed", "closed") and not self._closed:
            self._on_failed()

    async def negotiate(
        self, offer_sdp: str, layout: list[Slot], out_track: Callable[[int, Slot], OutTrack]
    ) -> tuple[str, dict[str, Slot], dict[str, int]]:
        """Apply an offer; return (answer SDP, mid -> slot, mid -> layout index)."""
        if self.candidates is not None:
            offer_sdp, refused = self.candidates.filter_sdp(offer_sdp)
            if refused:
                logger.info("peer %s: %d offered candidates refused", self.label, len(refused))
        description = validate_offer(offer_sdp, layout, self.video_mime)
        async with self._lock:
            if self.pc.signalingState != "stable":
                raise NegotiationError(
                    "a negotiation is already in progress", code=ErrorCode.BAD_STATE
                )
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            except Exception as exc:
                raise NegotiationError(f"offer refused: {exc}") from None
            by_mid = {t.mid: t for t in self.pc.getTransceivers()}
            slots: dict[str, Slot] = {}
            indexes: dict[str, int] = {}
            for index, (m, slot) in enumerate(zip(description.media, layout, strict=True)):
                mid = m.rtp.muxId
                transceiver = by_mid[mid]
                slots[mid] = slot
                indexes[mid] = index
                mime = self.video_mime if SLOT_KIND[slot] == "video" else "audio/opus"
                if not aiortc_hooks.pin_codec(transceiver, mime):
                    raise NegotiationError(f"{mime} not negotiable", code=ErrorCode.NO_USABLE_CODEC)
                if slot in PUBLISH_SLOTS:
                    track = transceiver.receiver.track
                    if track is not None and slot not in self.sources:
                        self.sources[slot] = self._make_source(slot, transceiver.receiver, track)
                else:
                    transceiver.direction = "sendonly"
                    if transceiver.sender.track is None:
                        sink = out_track(index, slot)
                        transceiver.sender.replaceTrack(sink)
                        sink.attach(RtpSendLeg(transceiver.sender))
                        aiortc_hooks.on_keyframe_request(transceiver.sender, sink.request_keyframe)
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
            self.mids = indexes
            for source in self.sources.values():
                source.start()
            return self.pc.localDescription.sdp, slots, indexes

    def _make_source(self, slot: Slot, receiver: object, track: object) -> TrackSource:
        async def send() -> bool:
            return await aiortc_hooks.send_pli(receiver)  # type: ignore[arg-type]

        requester = KeyframeRequester(send, self._keyframe_interval_s, self._on_keyframe_sent)
        mime = self.video_mime if SLOT_KIND[slot] == "video" else "audio/opus"
        return TrackSource(track, requester, f"{self.label}/{slot.value}", mime)  # type: ignore[arg-type]

    async def add_ice_candidate(
        self, candidate: str, sdp_mid: str | None, index: int | None
    ) -> None:
        if not candidate:
            return  # end-of-candidates: aiortc needs no signal for it
        text = candidate.removeprefix("candidate:").removeprefix("a=candidate:")
        try:
            parsed = candidate_from_sdp(text)
        except Exception:
            raise NegotiationError("malformed ICE candidate") from None
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = index
        if self.pc.remoteDescription is None:
            raise NegotiationError("ICE candidate before any offer", code=ErrorCode.BAD_STATE)
        reason = self.candidates.refusal(parsed) if self.candidates is not None else None
        if reason is not None:
            raise NegotiationError(reason, code=ErrorCode.CANDIDATE_REFUSED)
        await self.pc.addIceCandidate(parsed)

    def packet_counts(self) -> tuple[int, int]:
        """(datagrams received, datagrams sent) on this connection so far."""
        return aiortc_hooks.packet_counts(self.pc)

    def stats(self) -> PeerStats:
        """Loss, round trip and bitrates since the last call (read in place: no getStats)."""
        figures = aiortc_hooks.link_figures(self.pc)
        received, sent = figures.bytes_received, figures.bytes_sent
        lost, expected = figures.packets_lost, figures.packets_received + figures.packets_lost
        rtts = [rtt * 1000 for rtt in figures.rtt_s]
        now = time.monotonic()
        result = PeerStats(
            packet_loss=(lost / expected) if expected else 0.0,
            rtt_ms=(sum(rtts) / len(rtts)) if rtts else None,
        )
        if self._last_bytes is not None:
            then, last_in, last_out = self._last_bytes
            span = max(now - then, 1e-3)
            result.bitrate_in_kbps = max(received - last_in, 0) * 8 / 1000 / span
            result.bitrate_out_kbps = max(sent - last_out, 0) * 8 / 1000 / span
        self._last_bytes = (now, received, sent)
        return result

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for source in self.sources.values():
            await source.close()
        await self.pc.close()
