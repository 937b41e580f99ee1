"""Sending forwarded frames: packetize a source frame once, send it to every subscriber.

aiortc's ``RTCRtpSender`` in pack mode wakes one task per subscriber per frame, packetizes the
frame again for each (VP8 payload descriptors, H.264 NAL splitting), builds ``RtpPacket`` objects
with header extensions, serializes them and awaits three layers of transports per packet. That
was most of the hub's cost per forwarded packet (issue 19). Here:

- ``packetize`` splits a frame into RTP payloads once per source frame (``Packetized``);
- ``RtpSendLeg`` is one subscriber's stream (bound to its aiortc ``RTCRtpSender``, which still
  owns the SSRCs, the SDP and the RTCP): it writes each payload behind a 12-byte header with its
  own SSRC, sequence number and timestamp and its header extensions (MID, abs-send-time),
  protects it with the transport's SRTP session and hands it to the UDP socket, synchronously;
- where the C extension ``streamhub.media._rtpsend`` is built (``pip install`` builds it where
  a C compiler is found), one call per subscriber and frame writes, protects and sends all the
  frame's packets with one ``sendmmsg``; without it, or with ``STREAMHUB_RTP_SEND=python``, the
  same steps run here in Python;
- it keeps the last frames it sent and answers the subscriber's NACKs from them, over RTX when
  negotiated (``RTCRtpSender._retransmit`` replaced per sender);
- it sends the stream's RTCP sender reports itself (``RTCRtpSender._run_rtcp`` replaced per
  sender), and only while it sends media: aiortc's reported every ~1 s for every slot, the
  empty ones too, through its awaited transport chain (10 % of the hub's CPU at 32 classrooms).

aiortc 1.16 internals used (pinned; tests/media/test_rtp_send.py and the forwarding tests fail if
they change): ``RTCRtpSender.send`` (wrapped per sender to learn the negotiated parameters),
``_ssrc``, ``_rtx_ssrc``, ``_retransmit``, ``_run_rtcp`` and what it maintains (``__cname``,
``__lsr``, ``__lsr_time`` for round-trip times, ``__rtcp_started``/``__rtcp_exited`` for
``stop``); ``RTCDtlsTransport._tx_srtp``, ``_state``, ``__tx_packets``, ``__tx_bytes``,
``_transport`` (the ``RTCIceTransport``) and its aioice ``_connection._nominated``; SRTP by
``streamhub.media.srtp``; asyncio's ``_SelectorDatagramTransport._sock`` and ``_buffer``
(``fast_sendto``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264Encoder
from aiortc.rtcdtlstransport import State
from aiortc.rtp import RtcpSdesPacket, RtcpSourceInfo

from streamhub.media.clock import abs_send_time, ntp_now
from streamhub.media.srtp import PROTECT_ADDRESS, PROTECT_IS_LIBSRTP2, SrtpCall, protector

logger = logging.getLogger(__name__)


def _native() -> Any:
    """The compiled send path, or None: not built here, or turned off."""
    if os.environ.get("STREAMHUB_RTP_SEND", "").lower() == "python":
        return None
    if not PROTECT_IS_LIBSRTP2:
        logger.warning("pylibsrtp's srtp_protect is not libsrtp 2's: packets are sent from Python")
        return None
    try:
        import streamhub.media._rtpsend as _rtpsend
    except ImportError:
        return None
    return _rtpsend


# Read by each leg when its transport comes up (the tests switch it to compare both paths).
native = _native()

# Payload bytes per packet, as aiortc's packetizers (with the headers, under a 1,500 MTU).
PACKET_MAX = 1300
VP8_DESCRIPTOR = 4  # X, I, and a 15-bit picture id (always the 2-byte form: patched per leg)
HISTORY = 256  # frames kept per leg for retransmission (~8 s of video, ~5 s of audio)
# A socket whose unsent data passes this is congested: the leg drops video to a key frame.
CONGESTED_BYTES = 256 * 1024

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

_HEADER = struct.Struct("!BBHII")
# RTCP SR without report blocks: V=2 RC=0, PT 200, length 6, then the sender info.
_SENDER_REPORT = struct.Struct("!BBHIIIIII")
_PICTURE_ID = struct.Struct("!H")
_OSN = struct.Struct("!H")


@dataclass(slots=True)
class Packetized:
    """One source frame as RTP payloads. For VP8 the 4-byte payload descriptor is left to each
    leg (``vp8``: its picture id keeps counting per subscriber across source switches).

    ``ntp`` is the instant the frame goes out, read once for all its subscribers (sender
    reports and the abs-send-time extension); ``abs_time`` is that extension's 3 bytes."""

    parts: list[bytes]
    vp8: bool
    ntp: int = 0
    abs_time: bytes = b"\x00\x00\x00"


def packetize(mime: str, data: bytes) -> Packetized:
    mime = mime.lower()
    if mime == "video/vp8":
        size = PACKET_MAX - VP8_DESCRIPTOR
        parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        frame = Packetized(parts, True)
    elif mime == "video/h264":
        frame = Packetized(H264Encoder._packetize(H264Encoder._split_bitstream(data)), False)
    else:
        frame = Packetized([data], False)
    frame.ntp = ntp_now()
    frame.abs_time = abs_send_time(frame.ntp)
    return frame


def plain_socket(udp: Any) -> tuple[Any, Any] | None:
    """The socket and asyncio's send buffer of a plain, unconnected selector datagram
    transport, which both fast paths write to directly; None for any other transport (a TURN
    relay's)."""
    sock = getattr(udp, "_sock", None)
    waiting = getattr(udp, "_buffer", None)
    if sock is None or waiting is None or udp.get_extra_info("peername") is not None:
        return None
    return sock, waiting


def fast_sendto(udp: Any) -> Any:
    """``udp.sendto`` without asyncio's per-datagram checks while nothing waits in its buffer.

    A datagram that would block, or fails, goes through asyncio's own ``sendto`` (which buffers
    it or reports the error); so does everything on a transport that is not a plain selector
    datagram transport (a TURN relay's)."""
    plain = plain_socket(udp)
    if plain is None:
        return udp.sendto
    sock, waiting = plain
    raw, slow = sock.sendto, udp.sendto

    def sendto(data: bytes, addr: Any) -> None:
        if waiting:
            slow(data, addr)
            return
        try:
            raw(data, addr)
        except OSError:  # would block, interrupted, or an error: asyncio's handling
            slow(data, addr)

    return sendto


def _payload(picture_id: int, index: int, part: bytes) -> bytes:
    """A packet's payload: for VP8 (``picture_id`` >= 0) the payload descriptor (X; S on the
    first packet; I with the 15-bit picture id) and the part."""
    if picture_id < 0:
        return part
    return (
        (b"\x90\x80" if index == 0 else b"\x80\x80") + _PICTURE_ID.pack(0x8000 | picture_id) + part
    )


def send_frame(
    protect: SrtpCall,
    sendto: Any,
    addr: Any,
    first_byte: int,
    payload_type: int,
    seq: int,
    ts: int,
    ssrc: int,
    ext: bytes,
    picture_id: int,
    parts: list[bytes],
) -> tuple[int, int]:
    """One frame's packets, written, protected and sent: what ``_rtpsend.send_frame`` does, in
    Python. Returns (bytes sent, payload bytes)."""
    last = len(parts) - 1
    octets = sent = 0
    for index, part in enumerate(parts):
        marker = 0x80 if index == last else 0
        payload = _payload(picture_id, index, part)
        protected = protect(
            _HEADER.pack(first_byte, marker | payload_type, seq, ts, ssrc) + ext + payload
        )
        sendto(protected, addr)
        octets += len(payload)
        sent += len(protected)
        seq = (seq + 1) & 0xFFFF
    return sent, octets


def _extension_block(elements: Sequence[tuple[int, bytes]]) -> bytes:
    """RFC 8285 one-byte header extensions with the 0xBEDE word, padded to 32 bits."""
    body = b"".join(bytes([(ident << 4) | (len(value) - 1)]) + value for ident, value in elements)
    body += b"\x00" * (-len(body) % 4)
    return b"\xbe\xde" + (len(body) // 4).to_bytes(2, "big") + body


class RtpSendLeg:
    """One subscriber's RTP stream for a slot, sent from the hub's fan-out loop."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender
        self.ssrc: int = sender._ssrc
        self.rtx_ssrc: int = sender._rtx_ssrc
        self.payload_type: int | None = None
        self.rtx_payload_type: int | None = None
        self.seq = random.randrange(1 << 15)
        self.rtx_seq = random.randrange(1 << 15)
        self.ts_origin = random.randrange(1 << 32)
        self.picture_id = random.randrange(1 << 15)
        self._mid = b""
        self._mid_id = 0
        self._abs_id = 0
        # The extension block is the same for every packet of a frame but abs-send-time's 3
        # bytes: built once per leg, then ``head + abs_time + tail``.
        self._ext_head = b""
        self._ext_tail = b""
        self._ext_empty = True
        self._sdes = b""
        # Per frame sent: its first sequence number, timestamp, VP8 picture id (-1: not VP8)
        # and payloads, which every leg of the source shares.
        self._history: collections.deque[tuple[int, int, int, list[bytes]]] = collections.deque(
            maxlen=HISTORY
        )
        self._udp: Any = None
        self._addr: Any = None
        # The compiled path's view of the socket: the socket object, asyncio's send buffer (the
        # compiled path only runs while it is empty), the peer as a struct sockaddr.
        self._native: Any = None
        self._sock: Any = None
        self._waiting: Any = None
        self._sockaddr = b""
        self._dtls: Any = None
        self._protector: SrtpCall | None = None
        self._sendto: Any = None
        # Set by the first frame sent: a leg that never sends (an empty slot) sends no reports.
        self._sending = asyncio.Event()
        self.packets = 0
        self.octets = 0
        self.retransmitted = 0
        self.reports = 0
        self._last_ts = 0
        self._last_ntp = 0
        self._wrap_send(sender)
        sender._retransmit = self.retransmit  # type: ignore[method-assign]
        sender._run_rtcp = self.run_rtcp  # type: ignore[method-assign]

    def _wrap_send(self, sender: RTCRtpSender) -> None:
        original = sender.send

        async def send(parameters: Any) -> None:
            self.configure(parameters)
            await original(parameters)

        sender.send = send  # type: ignore[method-assign]

    def configure(self, parameters: Any) -> None:
        """Learn the negotiated payload types, MID and extension ids (from ``sender.send``)."""
        codec = parameters.codecs[0]
        self.payload_type = codec.payloadType
        for other in parameters.codecs:
            if (
                other.mimeType.lower().endswith("/rtx")
                and other.parameters.get("apt") == codec.payloadType
            ):
                self.rtx_payload_type = other.payloadType
        self._mid = (parameters.muxId or "").encode()
        for extension in parameters.headerExtensions:
            if extension.uri == URI_MID:
                self._mid_id = extension.id
            elif extension.uri == URI_ABS_SEND_TIME:
                self._abs_id = extension.id
        marker = b"\xab\xcd\xef"
        elements = []
        if self._mid_id and self._mid:
            elements.append((self._mid_id, self._mid))
        if self._abs_id:
            elements.append((self._abs_id, marker))
        self._ext_empty = not elements
        block = _extension_block(elements) if elements else b""
        head, _, tail = block.partition(marker)
        self._ext_head, self._ext_tail = (head, tail) if self._abs_id else (block, b"")

    # ------------------------------------------------------------ the socket

    def ready(self) -> bool:
        """The transport is up: SRTP keys agreed and an ICE pair chosen."""
        dtls = self._dtls
        if dtls is not None:
            srtp = dtls._tx_srtp
            if srtp is None or dtls._state is not State.CONNECTED:
                return False
            current = self._protector
            if current is None or current.session is not srtp:
                self._protector = protector(srtp)
            return True
        if self.payload_type is None:
            return False
        dtls = self.sender.transport
        if dtls is None or dtls._tx_srtp is None or dtls._state is not State.CONNECTED:
            return False
        pair = dtls._transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return False
        self._dtls, self._udp, self._addr = dtls, pair.protocol.transport, pair.remote_addr
        self._protector = protector(dtls._tx_srtp)
        self._sendto = fast_sendto(self._udp)
        self._bind_native()
        return True

    def _bind_native(self) -> None:
        """Use the compiled path on a plain selector datagram transport (not a TURN relay's)."""
        plain = plain_socket(self._udp)
        if native is None or plain is None:
            return
        try:
            self._sockaddr = native.sockaddr(self._addr[0], self._addr[1])
        except (ValueError, TypeError, IndexError):
            return
        self._native = native
        self._sock, self._waiting = plain

    @property
    def congested(self) -> bool:
        udp = self._udp
        return udp is not None and udp.get_write_buffer_size() > CONGESTED_BYTES

    def _transmit(self, packet: bytes, rtcp: bool = False) -> None:
        srtp = self._dtls._tx_srtp
        protected = srtp.protect_rtcp(packet) if rtcp else srtp.protect(packet)
        self._udp.sendto(protected, self._addr)
        self._count(1, len(protected))

    def _count(self, packets: int, octets: int) -> None:
        dtls = self._dtls
        dtls._RTCDtlsTransport__tx_packets += packets
        dtls._RTCDtlsTransport__tx_bytes += octets

    # ------------------------------------------------------------ sending

    def extensions(self, abs_time: bytes) -> bytes:
        if self._ext_empty:
            return b""
        if not self._abs_id:
            return self._ext_head
        return self._ext_head + abs_time + self._ext_tail

    def send(self, frame: Packetized, timestamp: int, keyframe: bool) -> None:
        """Send one frame (``timestamp``: this leg's media clock, before its random origin)."""
        pt = self.payload_type
        if pt is None:
            return
        ts = (self.ts_origin + timestamp) & 0xFFFFFFFF
        ext = self.extensions(frame.abs_time)
        first_byte = 0x90 if ext else 0x80
        parts = frame.parts
        picture_id = -1
        if frame.vp8:
            picture_id = self.picture_id
            self.picture_id = (picture_id + 1) & 0x7FFF
        seq = self.seq
        self._history.append((seq, ts, picture_id, parts))
        protect = self._protector
        assert protect is not None, "send() only after ready()"
        compiled = self._native
        fd = self._sock.fileno() if compiled is not None and not self._waiting else -1
        if fd >= 0:
            sent, octets, unsent = compiled.send_frame(
                PROTECT_ADDRESS,
                protect.address,
                fd,
                self._sockaddr,
                first_byte,
                pt,
                seq,
                ts,
                self.ssrc,
                ext,
                picture_id,
                parts,
            )
            if unsent:
                for protected in unsent:
                    self._udp.sendto(protected, self._addr)
        else:
            sent, octets = send_frame(
                protect,
                self._sendto,
                self._addr,
                first_byte,
                pt,
                seq,
                ts,
                self.ssrc,
                ext,
                picture_id,
                parts,
            )
        self._count(len(parts), sent)
        if not self.packets:
            self._sending.set()
        self.packets += len(parts)
        self.octets += octets
        self.seq = (seq + len(parts)) & 0xFFFF
        self._last_ts = ts
        self._last_ntp = frame.ntp

    def _find(self, sequence_number: int) -> tuple[int, int, bytes] | None:
        """(timestamp, marker, payload) of a packet still in the history."""
        for first, ts, picture_id, parts in reversed(self._history):
            index = (sequence_number - first) & 0xFFFF
            if index < len(parts):
                marker = 0x80 if index == len(parts) - 1 else 0
                return ts, marker, _payload(picture_id, index, parts[index])
        return None

    async def retransmit(self, sequence_number: int) -> None:
        """Answer a NACK (replaces ``RTCRtpSender._retransmit`` for this sender)."""
        entry = self._find(sequence_number)
        if entry is None or not self.ready():
            return
        seq = sequence_number
        ts, marker, payload = entry
        ext = self.extensions(abs_send_time(ntp_now()))
        first_byte = 0x90 if ext else 0x80
        if self.rtx_payload_type is not None:
            header = _HEADER.pack(
                first_byte, marker | self.rtx_payload_type, self.rtx_seq, ts, self.rtx_ssrc
            )
            self.rtx_seq = (self.rtx_seq + 1) & 0xFFFF
            packet = header + ext + _OSN.pack(seq) + payload
        else:
            assert self.payload_type is not None
            packet = _HEADER.pack(first_byte, marker | self.payload_type, seq, ts, self.ssrc)
            packet += ext + payload
        self.retransmitted += 1
        try:
            self._transmit(packet)
        except Exception:  # a closing transport: the subscriber is going away
            logger.debug("retransmission not sent", exc_info=True)

    # ------------------------------------------------------------ RTCP

    def sender_report(self) -> bytes:
        """An RTCP sender report (RFC 3550 6.4.1) and SDES CNAME for this stream."""
        ntp = self._last_ntp
        report = _SENDER_REPORT.pack(
            0x80,
            200,
            6,
            self.ssrc,
            ntp >> 32,
            ntp & 0xFFFFFFFF,
            self._last_ts,
            self.packets & 0xFFFFFFFF,
            self.octets & 0xFFFFFFFF,
        )
        if not self._sdes:
            cname = getattr(self.sender, "_RTCRtpSender__cname", None) or ""
            chunk = RtcpSourceInfo(ssrc=self.ssrc, items=[(1, cname.encode("utf8"))])
            self._sdes = bytes(RtcpSdesPacket(chunks=[chunk]))
        return report + self._sdes

    async def run_rtcp(self) -> None:
        """Replaces ``RTCRtpSender._run_rtcp``: a sender report every 0.5-1.5 s (RFC 3550's
        randomized interval) while this leg sends media; a BYE at the end."""
        # aiortc's private RTCP state, reached by its mangled names: no type knows them.
        sender: Any = self.sender
        sender._RTCRtpSender__rtcp_started.set()
        try:
            # A slot that sends nothing reports nothing, and does not wake to say so (most of a
            # classroom's slots are empty: the screen, the stage, the tiles).
            await self._sending.wait()
            while True:
                await asyncio.sleep(0.5 + random.random())
                if not self.ready():
                    continue
                # aiortc estimates the round trip from the receiver reports that echo this.
                sender._RTCRtpSender__lsr = (self._last_ntp >> 16) & 0xFFFFFFFF
                sender._RTCRtpSender__lsr_time = time.time()
                # ... and its outbound stats from these.
                sender._RTCRtpSender__packet_count = self.packets
                sender._RTCRtpSender__octet_count = self.octets
                self._transmit(self.sender_report(), rtcp=True)
                self.reports += 1
        except asyncio.CancelledError:
            pass
        finally:
            try:
                if self.packets and self.ready():
                    bye = struct.pack("!BBHI", 0x81, 203, 1, self.ssrc)
                    self._transmit(bye, rtcp=True)
            except Exception:  # the transport is going away with the subscriber
                logger.debug("RTCP BYE not sent", exc_info=True)
            sender._RTCRtpSender__rtcp_exited.set()
