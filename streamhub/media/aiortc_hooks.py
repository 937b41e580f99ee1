"""Everything StreamHub needs from aiortc that aiortc does not expose publicly. One module, so an
upgrade breaks in one place; tests/media/test_aiortc_hooks.py fails if it does.

Written against aiortc 1.16 and aioice 0.13; ``install`` refuses another aiortc than the range
pyproject.toml pins (``AIORTC_RANGE``). It is called where a process assembles its media: the
hub's lifespan (``streamhub.app``), each ``LessonClient``, the agent's doctor. The hooks are
patched in once; each install holds its settings (host addresses, port range, consent timing)
until released, and an install asking for other settings meanwhile raises ``HooksConflict``.
Internals used:
- ``aiortc.rtcrtpreceiver.get_decoder``: the receiver's decoder thread asks it for a decoder per
  codec. Ours returns each depayloaded frame as an ``av.Packet`` instead of decoding it, so a
  ``RemoteStreamTrack`` yields encoded frames, and ``RTCRtpSender`` takes its ``encoder.pack()``
  path for them (packetize only). This is the encoded-frame tap of the forwarding hub.
- ``RTCRtpSender._send_keyframe``: called when the remote sends PLI/FIR. In pack mode it only sets a
  flag nobody reads, so we replace it per sender with a callback that asks the publisher.
- ``RTCRtpReceiver._send_rtcp_pli``: sends a PLI upstream to the publisher.
- ``RTCRtpTransceiver._codecs``: the negotiated codecs; trimmed to the lesson's codec on every
  forwarding leg, because ``pack()`` does not check that the bytes match the negotiated codec.
- ``aiortc.rtcdtlstransport.RTCDtlsTransport._register_rtp_receiver``: aiortc routes an RTP
  packet by SSRC, or by payload type when a single receiver has it; it never registers the RTX
  SSRC of a receiver. With BUNDLE and several video m-lines (every StreamHub peer), each
  retransmission was dropped and no NACK was ever answered. The hook registers RTX SSRCs too.
- ``aiortc.RTCCertificate.generateCertificate``: aiortc makes a key pair and signs a certificate
  for every peer connection, 8 % of the hub's CPU in a join storm. The hook hands out one per
  process, renewed daily (aiortc's are valid 30 days). It only names this end in the SDP
  fingerprint; every DTLS session still agrees fresh keys, and browsers keep one per origin too.
- ``aioice.ice.get_host_addresses``: aioice gathers host candidates from every interface and leaves
  out loopback; StreamHub gathers on the configured addresses only.
- ``aioice.ice.Connection.query_consent``: replaced by ``streamhub.media.consent.query_consent``
  (checks every 1.5 s while the peer is quiet, every 5 s while its media flows, retransmitted,
  consent lost after 7 s of silence not counting the hub's own loop stalls); aioice's never
  retransmitted and closed healthy peers on a busy hub.
- ``aioice.ice.Connection.connect``: replaced by ``streamhub.media.ice_checks.connect``, which
  returns as soon as the check list completes; aioice's waited for its next 20 ms tick, on
  each end, before DTLS could start (a fifth of a classroom's join time on a LAN).
- ``RTCDtlsTransport._handle_rtp_data`` / ``_handle_rtcp_data``: called with each packet that
  decrypted; tells the consent check that the peer is alive.
- ``aiortc.rtcrtpreceiver.JitterBuffer``: replaced by the buffers of ``streamhub.media.reassembly``
  (audio: its prefetch turned 2 % loss into 10 % lost audio on a rural link; video: it holds
  every frame one frame time and freezes for seconds on a packet that is never resent).
- ``RTCDtlsTransport.__rx_packets``/``__tx_packets``: the datagrams a transport received and sent
  (aiortc counts them for its stats); the hub's packet gauges read them at scrape time.
- ``RTCDtlsTransport.__rx_bytes``/``__tx_bytes``, ``RTCRtpReceiver.__remote_streams`` (loss per
  SSRC) and ``RTCRtpSender.__rtt``: what ``RTCPeerConnection.getStats`` reports, read in place
  (``link_figures``). getStats builds a report per sender and receiver through one task each:
  10 % of the hub's CPU at 32 classrooms every 2 s, for four numbers.
- ``aiortc.rtcrtpreceiver.NackGenerator``: NACKs each lost packet once; replaced by one that asks
  again (``reassembly.RepeatingNackGenerator``).
- ``aioice.ice.StunProtocol.datagram_received``: aioice hands every non-STUN datagram to DTLS,
  whatever its source address and size; aiortc's DTLS reader then dies on a zero-length one
  (``data[0]``), losing the session. The guard drops empty and oversize datagrams and any
  non-STUN datagram from an address that ICE has not checked.
- ``aioice.ice.Connection.get_component_candidates``: aioice binds each host candidate's UDP
  socket to port 0 and has no port-range knob. With ``ice.udp_port_range`` the hook binds the
  host sockets itself, in the range, and leaves only STUN/TURN gathering to aioice.
- ``aioice.turn.create_turn_endpoint``: ``turns:`` is reached with ``ssl=True``, i.e. the system
  CAs only, and a failed TLS connection is silent. The hook hands it our verifying context (the
  system's CAs plus the agent's ``--ca-file``) and logs why a TURN allocation failed.
  SRTP from a connected
  transport's peer takes ``streamhub.media.rtp_receive``'s fast path right here.
- ``aiortc.rtcrtpsender.get_encoder``: aiortc's H.264 encoder runs libx264 at its default
  preset ("medium"): 0.11-0.37 of a core for a classroom camera, 3-7x libvpx's realtime VP8.
  ``RealtimeH264Encoder`` (ours, for the agent's camera) uses the "veryfast" preset: about
  VP8's cost (bench/encoder_cost.py).
- ``RTCRtpSender._send_rtcp`` (and its ``__packet_count``): a sender that has sent no media
  sends no sender reports (nor a BYE); every unused publishing slot of a classroom sent one
  every ~1 s.
- the receive path's decoder thread, REMB estimator and datagram queue: see
  ``streamhub.media.rtp_receive`` (installed from here); the send path is
  ``streamhub.media.rtp_send`` (per sender, by the hub's peers).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import ipaddress
import logging
import random
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from types import EllipsisType
from typing import Any

import aioice.ice
import aioice.turn
import aiortc
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import av
from aiortc import (
    RTCCertificate,
    RTCDtlsTransport,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.codecs import get_encoder
from aiortc.codecs.h264 import H264Encoder

from streamhub.errors import ConfigError
from streamhub.interfaces import expand_host_addresses
from streamhub.media import consent, ice_checks, rtp_receive
from streamhub.media.codecs import h264_is_keyframe, vp8_is_keyframe
from streamhub.media.reassembly import (
    AudioReorderBuffer,
    RepeatingNackGenerator,
    VideoFrameAssembler,
)

logger = logging.getLogger(__name__)

_lock = threading.RLock()
_installed = False
_host_addresses: list[str] = ["127.0.0.1"]
_original_get_host_addresses = aioice.ice.get_host_addresses


class EncodedFrameTap:
    """A stand-in decoder that hands over the assembled encoded frame untouched."""

    def __init__(self, mime_type: str, clock_rate: int) -> None:
        self.mime_type = mime_type.lower()
        self.time_base = Fraction(1, clock_rate)
        if self.mime_type == "video/vp8":
            self._is_key: Callable[[bytes], bool] = vp8_is_keyframe
        elif self.mime_type == "video/h264":
            self._is_key = h264_is_keyframe
        else:
            self._is_key = lambda data: True

    def decode(self, encoded_frame: Any) -> list[av.Packet[Any]]:
        # aiortc has mapped the (first) frame's RTP timestamp onto its zero-based clock.
        base: int = encoded_frame.timestamp
        frames = getattr(encoded_frame, "frames", None) or [(encoded_frame.data, 0)]
        packets = []
        for data, offset in frames:
            packet = av.Packet(data)
            packet.pts = packet.dts = base + offset
            packet.time_base = self.time_base
            packet.is_keyframe = self._is_key(data)
            packets.append(packet)
        return packets


# Larger than any RTP, RTCP or DTLS record a WebRTC peer sends (path MTU ~ 1500).
MAX_DATAGRAM = 1500
_original_datagram_received = aioice.ice.StunProtocol.datagram_received


# A pair is in progress once the peer sent an authenticated binding request from that address
# (its DTLS may start before our own check of the pair comes back).
_CHECKED = (aioice.ice.CandidatePair.State.IN_PROGRESS, aioice.ice.CandidatePair.State.SUCCEEDED)


def _validated(protocol: Any, addr: tuple[Any, ...]) -> bool:
    connection = protocol.receiver
    source = (addr[0], addr[1])
    for pair in getattr(connection, "_check_list", ()):
        if pair.protocol is protocol and pair.remote_addr == source and pair.state in _CHECKED:
            return True
    return False


def _guarded_datagram_received(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
    if not data or len(data) > MAX_DATAGRAM:
        return
    # STUN messages start with two zero bits (RFC 7983); they carry ICE's own checks.
    if isinstance(data, bytes) and data[0] > 3:
        if rtp_receive.take_fast(self, data, addr):
            return
        if not _validated(self, addr):
            return
    _original_datagram_received(self, data, addr)


def _jitter_buffer(
    capacity: int, prefetch: int = 0, is_video: bool = False
) -> VideoFrameAssembler | AudioReorderBuffer:
    if is_video:
        return VideoFrameAssembler()
    return AudioReorderBuffer(capacity)


CERTIFICATE_RENEW_S = 24 * 3600.0
_original_generate_certificate = RTCCertificate.generateCertificate
_certificate: tuple[float, RTCCertificate] | None = None


def _shared_certificate(cls: type[RTCCertificate]) -> RTCCertificate:
    global _certificate
    with _lock:
        now = time.monotonic()
        if _certificate is None or now - _certificate[0] > CERTIFICATE_RENEW_S:
            _certificate = (now, _original_generate_certificate())
        return _certificate[1]


_original_register_rtp_receiver = RTCDtlsTransport._register_rtp_receiver


def _register_rtp_receiver_with_rtx(self: Any, receiver: Any, parameters: Any) -> None:
    _original_register_rtp_receiver(self, receiver, parameters)
    for encoding in parameters.encodings:
        if encoding.rtx is not None:
            self._rtp_router.ssrc_table[encoding.rtx.ssrc] = receiver


_original_send_rtcp = RTCRtpSender._send_rtcp


async def _send_rtcp_once_sending(self: Any, packets: list[Any]) -> None:
    # A sender with nothing to send (a classroom without a camera, a slot not in use) reported
    # zero packets every second, and its BYE at the end: a third of what a hub received from
    # receive-only classrooms. The peer learns nothing from either.
    if self._RTCRtpSender__packet_count:
        await _original_send_rtcp(self, packets)


_original_handle_rtp_data = RTCDtlsTransport._handle_rtp_data
_original_handle_rtcp_data = RTCDtlsTransport._handle_rtcp_data


async def _handle_rtp_data_heard(self: Any, data: bytes, arrival_time_ms: int) -> None:
    consent.heard(self._transport._connection)
    await _original_handle_rtp_data(self, data, arrival_time_ms)


async def _handle_rtcp_data_heard(self: Any, data: bytes) -> None:
    consent.heard(self._transport._connection)
    await _original_handle_rtcp_data(self, data)


class RealtimeH264Encoder(H264Encoder):
    """aiortc's H.264 encoder (packetization, bitrate), with libx264 at a real-time preset."""

    PRESET = "veryfast"

    def _encode_frame(self, frame: av.VideoFrame, force_keyframe: bool) -> Any:
        codec = self.codec
        rate = codec.bit_rate if codec is not None else None
        if codec is not None and (
            (frame.width, frame.height) != (codec.width, codec.height)
            or rate is None
            or abs(self.target_bitrate - rate) > 0.1 * rate
        ):
            codec = None  # a new size or bitrate: a new encoder, starting on a key frame
        if codec is None:
            codec = av.CodecContext.create("libx264", "w")
            codec.width, codec.height = frame.width, frame.height
            codec.bit_rate = self.target_bitrate
            codec.pix_fmt = "yuv420p"
            codec.framerate = Fraction(30, 1)
            codec.time_base = Fraction(1, 30)
            self.options = {"level": "31", "tune": "zerolatency", "preset": self.PRESET}
            codec.options = dict(self.options)
            codec.profile = "Baseline"
            self.codec = codec
        frame.pict_type = (
            av.video.frame.PictureType.I if force_keyframe else av.video.frame.PictureType.NONE
        )
        data = b"".join(bytes(packet) for packet in codec.encode(frame))
        if data:
            yield from self._split_bitstream(data)


def _get_encoder(codec: Any) -> Any:
    if codec.mimeType.lower() == "video/h264":
        return RealtimeH264Encoder()
    return get_encoder(codec)


def _tap_decoder(codec: Any) -> EncodedFrameTap:
    return EncodedFrameTap(codec.mimeType, codec.clockRate)


_udp_port_range: tuple[int, int] | None = None
_original_component_candidates = aioice.ice.Connection.get_component_candidates


class PortRangeExhausted(OSError):
    """Every port of ``ice.udp_port_range`` is taken on an address."""


def bind_udp_in_range(address: str, port_range: tuple[int, int]) -> socket.socket:
    """A UDP socket bound to ``address`` on a free port of the range (tried from a random
    start, so concurrent peers rarely race for the same port)."""
    first, last = port_range
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    count = last - first + 1
    start = random.randrange(count)
    for step in range(count):
        port = first + (start + step) % count
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        sock.setblocking(False)
        return sock
    raise PortRangeExhausted(
        errno.EADDRINUSE,
        f"no free UDP port on {address} in ice.udp_port_range {first}-{last}: "
        "widen the range (one port per connected participant and host address)",
    )


async def _ranged_component_candidates(
    self: Any, component: int, addresses: list[str], timeout: int = 5
) -> list[Any]:
    port_range = _udp_port_range
    if port_range is None or not addresses:
        return await _original_component_candidates(self, component, addresses, timeout)
    loop = asyncio.get_running_loop()
    candidates = []
    hosts = []
    for address in addresses:
        try:
            sock = bind_udp_in_range(address, port_range)
        except OSError as exc:
            logger.error("ICE host candidate on %s not gathered: %s", address, exc.strerror or exc)
            continue
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE)
        _, protocol = await loop.create_datagram_endpoint(
            lambda: aioice.ice.StunProtocol(self), sock=sock
        )
        host, port = protocol.transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = aioice.ice.Candidate(
            foundation=aioice.ice.candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=aioice.ice.candidate_priority(component, "host"),
            host=host,
            port=port,
            type="host",
        )
        candidates.append(protocol.local_candidate)
        hosts.append(protocol)
    self._protocols += hosts
    # STUN (server-reflexive, IPv4 only) from our sockets, as aioice does; TURN by aioice.
    reflexive = [
        asyncio.ensure_future(aioice.ice.server_reflexive_candidate(p, self.stun_server))
        for p in hosts
        if self.stun_server and ipaddress.ip_address(p.local_candidate.host).version == 4
    ]
    relayed = await _original_component_candidates(self, component, [], timeout)
    if reflexive:
        done, pending = await asyncio.wait(reflexive, timeout=timeout)
        for task in pending:
            task.cancel()
        candidates += [t.result()[0] for t in done if t.exception() is None]
    return candidates + relayed


_turn_ssl_context: ssl.SSLContext | None = None
_original_create_turn_endpoint = aioice.turn.create_turn_endpoint


async def _create_turn_endpoint(*args: Any, **kwargs: Any) -> Any:
    if kwargs.get("ssl") is True and _turn_ssl_context is not None:
        kwargs["ssl"] = _turn_ssl_context
    server = kwargs.get("server_addr")
    try:
        return await _original_create_turn_endpoint(*args, **kwargs)
    except asyncio.CancelledError:
        # aioice cancels an allocation that outlives candidate gathering (nothing answered);
        # a probe is cancelled once a better way answered.
        logger.info(
            "gave up waiting for TURN server %s (%s%s)",
            server,
            kwargs.get("transport", "udp"),
            "+TLS" if kwargs.get("ssl") else "",
        )
        raise
    except Exception as exc:
        logger.warning(
            "TURN server %s (%s%s) failed: %s",
            server,
            kwargs.get("transport", "udp"),
            "+TLS" if kwargs.get("ssl") else "",
            describe_turn_error(exc),
        )
        raise


def describe_turn_error(exc: BaseException) -> str:
    """One line on why a TURN allocation failed, for logs and the doctor."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    response = getattr(exc, "response", None)
    if response is not None:  # aioice.stun.TransactionFailed
        code, reason = response.attributes.get("ERROR-CODE", (0, ""))
        if code == 401:
            return "the server refused the credentials (401): wrong shared secret or user"
        if code == 403:
            return "the server forbids this (403): relaying to the hub is not allowed"
        return f"the server answered error {code} {reason}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "TransactionTimeout":
        return "no answer (blocked or down)"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}"


def media_path(pc: Any) -> str | None:
    """How a connected peer connection's media travels: "host" (direct), "srflx", or
    "relay/udp", "relay/tcp", "relay/tls" (through TURN); None before a pair is chosen.

    Reads aioice's nominated pair (``Connection._nominated``) of the first transport."""
    for transceiver in pc.getTransceivers():
        transport = transceiver.receiver.transport
        connection = getattr(getattr(transport, "transport", None), "_connection", None)
        pair = next(iter(getattr(connection, "_nominated", {}).values()), None)
        if pair is None:
            continue
        kind = str(pair.local_candidate.type)
        if kind != "relay":
            return kind
        inner = getattr(pair.protocol, "transport", None)
        inner = getattr(inner, "_TurnTransport__inner_protocol", None)
        name = type(inner).__name__
        tls = (
            inner is not None
            and getattr(inner, "transport", None) is not None
            and (inner.transport.get_extra_info("sslcontext") is not None)
        )
        return "relay/tls" if tls else "relay/tcp" if "Tcp" in name else "relay/udp"
    return None


def set_turn_ssl_context(context: ssl.SSLContext | None) -> None:
    """The context ``turns:`` connections verify the TURN server with (process-wide)."""
    global _turn_ssl_context
    _turn_ssl_context = context


def _configured_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [a for a in _host_addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


# The aiortc releases these hooks are written against: pyproject.toml pins the same range
# (tests/media/test_aiortc_hooks.py compares the two).
AIORTC_RANGE = ((1, 16), (1, 17))


class AiortcVersionError(ConfigError):
    """The installed aiortc is not the release StreamHub's aiortc hooks are written for."""


class HooksConflict(RuntimeError):
    """A second install asked for other process-wide settings than one still in use."""


@dataclass(frozen=True)
class HookSettings:
    """What an install sets process-wide. ``host_addresses`` as configured (``auto`` is
    expanded at each install, so a PC whose addresses changed gathers on the new ones);
    ``udp_port_range`` ``...``: whatever another install set (a client in the hub's process)."""

    host_addresses: tuple[str, ...]
    consent_interval_s: float
    consent_timeout_s: float
    udp_port_range: tuple[int, int] | EllipsisType | None

    def conflicts_with(self, other: HookSettings) -> bool:
        ranges = (self.udp_port_range, other.udp_port_range)
        return (
            self.host_addresses != other.host_addresses
            or self.consent_interval_s != other.consent_interval_s
            or self.consent_timeout_s != other.consent_timeout_s
            or (... not in ranges and ranges[0] != ranges[1])
        )


class Installation:
    """A holder's claim on the settings it installed: another install with other settings
    raises while this is held. ``release()`` (or dropping it) ends the claim; the hooks stay."""

    def __init__(self, settings: HookSettings) -> None:
        self.settings = settings

    def release(self) -> None:
        with _lock:
            _claims.discard(self)


# Held weakly: a holder that is gone (a client never closed) claims nothing any more.
_claims: weakref.WeakSet[Installation] = weakref.WeakSet()


def check_aiortc_version(version: str | None = None) -> None:
    """Raise AiortcVersionError unless ``version`` (the installed aiortc's) is in AIORTC_RANGE."""
    version = aiortc.__version__ if version is None else version
    low, below = AIORTC_RANGE
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        found = ()
    if not low <= found < below:
        wanted = f">={low[0]}.{low[1]},<{below[0]}.{below[1]}"
        raise AiortcVersionError(
            f"aiortc {version} is installed, but streamhub/media/aiortc_hooks.py is written for "
            f"aiortc{wanted} (pyproject.toml): pip install 'aiortc{wanted}'"
        )


def _patch() -> None:
    # Each line puts ours where aiortc or aioice looks its own up. The ignores mark where ours
    # has another type than what it replaces, on purpose (a "decoder" that yields packets, a
    # classmethod installed from a function).
    aioice.ice.Connection.get_component_candidates = _ranged_component_candidates  # type: ignore[method-assign]
    aioice.turn.create_turn_endpoint = _create_turn_endpoint
    aioice.ice.get_host_addresses = _configured_host_addresses
    aiortc.rtcrtpreceiver.get_decoder = _tap_decoder  # type: ignore[assignment]
    aiortc.rtcrtpsender.get_encoder = _get_encoder
    aiortc.rtcrtpreceiver.JitterBuffer = _jitter_buffer  # type: ignore[assignment,misc]
    aiortc.rtcrtpreceiver.NackGenerator = RepeatingNackGenerator  # type: ignore[misc]
    RTCDtlsTransport._register_rtp_receiver = _register_rtp_receiver_with_rtx  # type: ignore[method-assign]
    RTCCertificate.generateCertificate = classmethod(_shared_certificate)  # type: ignore[method-assign,assignment]
    aioice.ice.StunProtocol.datagram_received = _guarded_datagram_received  # type: ignore[method-assign]
    rtp_receive.install()
    aioice.ice.Connection.query_consent = consent.query_consent  # type: ignore[method-assign]
    aioice.ice.Connection.connect = ice_checks.connect  # type: ignore[method-assign]
    RTCDtlsTransport._handle_rtp_data = _handle_rtp_data_heard  # type: ignore[method-assign]
    RTCDtlsTransport._handle_rtcp_data = _handle_rtcp_data_heard  # type: ignore[method-assign]
    RTCRtpSender._send_rtcp = _send_rtcp_once_sending  # type: ignore[method-assign]


def install(
    host_addresses: Iterable[str],
    consent_interval_s: float = 1.5,
    consent_timeout_s: float = 7.0,
    udp_port_range: tuple[int, int] | EllipsisType | None = ...,
) -> Installation:
    """Install the encoded-frame tap and the ICE host addresses, process-wide; keep the result
    for as long as the settings must hold (the hub's lifespan, a client's life).

    The hooks are patched in once. Another install with the same settings is a no-op; one with
    other settings while a claim on the first is held raises HooksConflict (a client in the
    hub's process would otherwise move the hub's host addresses). Every RemoteStreamTrack in
    this process yields av.Packet afterwards; consumers that want pixels or samples decode
    with streamhub.client.decode.FrameDecoder. With ``udp_port_range``, every host candidate
    socket is bound inside it (``...``: keep the range another install set).
    """
    global _installed, _host_addresses, _udp_port_range
    wanted = HookSettings(
        tuple(host_addresses), consent_interval_s, consent_timeout_s, udp_port_range
    )
    with _lock:
        check_aiortc_version()
        if any(wanted.conflicts_with(held.settings) for held in list(_claims)):
            # A holder dropped unclosed but kept in a reference cycle (a client's peer
            # connection) is not in use: collect it before calling the settings taken.
            gc.collect()
        for held in list(_claims):
            if wanted.conflicts_with(held.settings):
                raise HooksConflict(
                    f"the aiortc hooks are in use with {held.settings}; another install asked "
                    f"for {wanted}"
                )
        if not _installed:
            _patch()
            _installed = True
        _host_addresses = expand_host_addresses(list(wanted.host_addresses))
        if udp_port_range is not ...:
            _udp_port_range = udp_port_range
        # A vanished peer is dropped after the timeout plus at most one interval: ~9 s.
        consent.configure(consent_interval_s, consent_timeout_s)
        claim = Installation(wanted)
        _claims.add(claim)
        return claim


def installed() -> bool:
    return _installed


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the remote end of ``sender`` asks for a keyframe (PLI or FIR)."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


async def send_pli(receiver: RTCRtpReceiver) -> bool:
    """Ask the publisher behind ``receiver`` for a keyframe; False if no SSRC is known yet."""
    # aiortc notes a retransmission's SSRC as a source too; a PLI names the media stream.
    rtx = set(getattr(receiver, "_RTCRtpReceiver__rtx_ssrc", {}))
    sources = [s for s in receiver.getSynchronizationSources() if s.source not in rtx]
    if not sources:
        return False
    latest = max(sources, key=lambda s: s.timestamp)
    await receiver._send_rtcp_pli(latest.source)
    return True


def pin_codec(transceiver: RTCRtpTransceiver, mime_type: str) -> bool:
    """Keep only ``mime_type`` (and its RTX) among the negotiated codecs; False if absent."""
    codecs = transceiver._codecs
    keep = [c for c in codecs if c.mimeType.lower() == mime_type.lower()]
    if not keep:
        return False
    payload_types = {c.payloadType for c in keep}
    keep += [
        c
        for c in codecs
        if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") in payload_types
    ]
    transceiver._codecs = keep
    return True


@dataclass(frozen=True, slots=True)
class LinkFigures:
    """A peer connection's totals so far, as its getStats would report them."""

    bytes_received: int
    bytes_sent: int
    packets_received: int  # RTP packets received, over all inbound streams
    packets_lost: int
    rtt_s: list[float]  # per sender with a round trip measured (from receiver reports)


def link_figures(pc: Any) -> LinkFigures:
    """A peer connection's byte counts, inbound loss and round-trip times, read in place (what
    ``getStats`` gathers, without a task per sender and receiver)."""
    received = sent = packets = lost = 0
    rtts: list[float] = []
    for transport in _dtls_transports(pc):
        received += getattr(transport, "_RTCDtlsTransport__rx_bytes", 0)
        sent += getattr(transport, "_RTCDtlsTransport__tx_bytes", 0)
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        streams = getattr(receiver, "_RTCRtpReceiver__remote_streams", {})
        retransmissions = getattr(receiver, "_RTCRtpReceiver__rtx_ssrc", {})
        for ssrc, stream in streams.items():
            if ssrc in retransmissions:
                continue  # an RTX stream repairs losses; its own numbering says nothing
            packets += stream.packets_received
            lost += max(stream.packets_lost, 0)
        rtt = getattr(transceiver.sender, "_RTCRtpSender__rtt", None)
        if rtt is not None:
            rtts.append(rtt)
    return LinkFigures(received, sent, packets, lost, rtts)


def packet_counts(pc: Any) -> tuple[int, int]:
    """(datagrams received, datagrams sent) by a peer connection's transports so far."""
    received = sent = 0
    for transport in _dtls_transports(pc):
        received += getattr(transport, "_RTCDtlsTransport__rx_packets", 0)
        sent += getattr(transport, "_RTCDtlsTransport__tx_packets", 0)
    return received, sent


def _dtls_transports(pc: Any) -> list[Any]:
    """A peer connection's DTLS transports, each once (with BUNDLE, one for every m-line)."""
    found: dict[int, Any] = {}
    for transceiver in pc.getTransceivers():
        for part in (transceiver.sender, transceiver.receiver):
            if part.transport is not None:
                found.setdefault(id(part.transport), part.transport)
    return list(found.values())
