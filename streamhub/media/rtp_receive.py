"""The receive path of every peer connection in our processes, without what a forwarder pays
for and does not need (issue 19: a received packet cost the hub 170-190 µs).

aiortc 1.16 hands each datagram from aioice's protocol to a queue, wakes the DTLS transport's task
for it, tries to parse every SRTP packet as STUN first, parses every header extension, runs three
coroutines per packet, formats a debug line and reads the wall clock as a datetime for it,
estimates REMB on every video packet, and sends every assembled frame (each 20 ms of audio too)
to a decoder thread and back to the event loop with ``run_coroutine_threadsafe``. Installed by
``streamhub.media.aiortc_hooks.install``:

- ``FastPath``: once a DTLS transport is connected, an SRTP/SRTCP datagram from the address of
  its chosen ICE pair is decrypted and handled right in ``datagram_received``, instead of taking
  the queue, the task wake-up and the STUN parse attempt;
- ``receive_rtp``/``handle_packet``: what aiortc's ``_handle_rtp_data`` and the receiver's
  ``_handle_rtp_packet`` do, as plain calls: the header parsed without its extensions (routing
  needs only SSRC and payload type; the extensions served the REMB estimator), the RTCP
  statistics, RTX unwrapping, NACKs, the receive buffer and the frame handed on. Only the rare
  RTCP feedback it sends (NACK, PLI) is a coroutine, run in place by ``drive``. aiortc's own
  receiver method is replaced by the same code, so every packet takes one path;
- ``InlineDecoderQueue``/``InlineDecoderThread`` stand in for the receiver's decoder thread: the
  encoded-frame tap (``get_decoder``) runs on the event loop and puts its ``av.Packet`` straight
  into the track's queue, or, for a hub's ``TrackSource`` (``deliver_inline``), hands it to the
  source right there: no queue, and no task woken for each frame (every 20 ms of each
  classroom's audio is one);
- no REMB estimator: the hub forwards (its REMB would only throttle a publisher that many
  receivers share) and a client's REMB to the hub is never read (pre-encoded senders).

aiortc/aioice internals used (pinned, tests/media/test_rtp_receive.py): the module globals
``threading``, ``queue`` and ``RemoteBitrateEstimator`` of ``aiortc.rtcrtpreceiver``;
``RTCDtlsTransport._set_state``, ``_state``, ``_rx_srtp`` (decrypted by
``streamhub.media.srtp``), ``_rtp_router``,
``_handle_rtcp_data``, ``__rx_bytes``/``__rx_packets``, ``_transport._connection._nominated``;
``RTCRtpReceiver._handle_rtp_packet``, ``_enabled``, ``_send_rtcp_nack``, ``_send_rtcp_pli``
and its private ``__codecs``, ``__active_ssrc``, ``__remote_streams``, ``__rtx_ssrc``,
``__nack_generator``, ``__jitter_buffer``, ``__decoder_error``, ``__decoder_thread``,
``__decoder_queue``, ``__timestamp_mapper``, ``__kind``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import aiortc.rtcrtpreceiver
from aiortc import RTCDtlsTransport, RTCRtpReceiver
from aiortc.clock import current_datetime
from aiortc.codecs.h264 import h264_depayload
from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import HeaderExtensions, RtpPacket, unwrap_rtx
from pylibsrtp import Error as SrtpError

from streamhub.media.codecs import vp8_payload
from streamhub.media.srtp import SrtpCall, rtcp_unprotector, unprotector

logger = logging.getLogger(__name__)

_original_set_state = RTCDtlsTransport._set_state
handle_rtcp_data = RTCDtlsTransport._handle_rtcp_data


# ------------------------------------------------------------------ coroutines run in place


class _Rest:
    """The rest of a coroutine that did suspend: awaited by a task, as if it had started it."""

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.coro = coro
        self.waiting = waiting

    def __await__(self) -> Generator[Any, None, Any]:
        waiting = self.waiting
        while True:
            try:
                yield waiting
            except BaseException as exc:  # cancellation or an error thrown in by the task
                try:
                    waiting = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                waiting = self.coro.send(None)
            except StopIteration as stop:
                return stop.value


async def _finish(rest: _Rest) -> Any:
    return await rest


def drive(coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` now, on this turn of the loop; if it suspends, a task finishes it."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    asyncio.get_running_loop().create_task(_finish(_Rest(coro, waiting)))


# ------------------------------------------------------------------ one RTP packet, plain calls

_HEADER = struct.Struct("!BBHLL")
_EXTENSION = struct.Struct("!HH")
# Received packets do not carry their header extensions (nothing reads them on receive); one
# empty, never-written instance stands in for them.
_NO_EXTENSIONS = HeaderExtensions()
# A source's "last heard" time (getSynchronizationSources, send_pli) is written once every this
# many of its packets, not for each: it costs a datetime.
_ACTIVE_EVERY = 32


def parse_rtp(data: bytes) -> RtpPacket:
    """An RTP packet's fields and payload, as ``RtpPacket.parse`` reads them, but the header
    extensions skipped; ValueError when the bytes are no RTP packet."""
    size = len(data)
    if size < 12:
        raise ValueError("RTP packet shorter than its header")
    first, marker_pt, sequence_number, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise ValueError("RTP packet has invalid version")
    pos = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if size < pos + 4:
            raise ValueError("RTP packet has truncated extension profile / length")
        pos += 4 + 4 * _EXTENSION.unpack_from(data, pos)[1]
    if size < pos:
        raise ValueError("RTP packet has a truncated header")
    packet = RtpPacket.__new__(RtpPacket)
    packet.version = 2
    packet.marker = marker_pt >> 7
    packet.payload_type = marker_pt & 0x7F
    packet.sequence_number = sequence_number
    packet.timestamp = timestamp
    packet.ssrc = ssrc
    packet.csrc = list(struct.unpack_from(f"!{first & 0x0F}L", data, 12)) if first & 0x0F else []
    packet.extensions = _NO_EXTENSIONS
    if first & 0x20:
        padding = data[-1]
        if not padding or padding > size - pos:
            raise ValueError("RTP packet padding length is invalid")
        packet.padding_size = padding
        packet.payload = data[pos:-padding]
    else:
        packet.padding_size = 0
        packet.payload = data[pos:]
    return packet


class _Codec:
    """What the receive path needs of a negotiated codec, worked out once (aiortc's ``name``
    splits the MIME type on every read)."""

    __slots__ = ("depayload", "params", "rtx")

    def __init__(self, params: Any) -> None:
        self.params = params
        name = params.mimeType.split("/")[-1].lower()
        self.rtx = name == "rtx"
        self.depayload: Callable[[bytes], bytes] | None = (
            vp8_payload if name == "vp8" else h264_depayload if name == "h264" else None
        )


def _codec(receiver: Any, payload_type: int) -> _Codec | None:
    params = receiver._RTCRtpReceiver__codecs.get(payload_type)
    if params is None:
        return None
    known: dict[int, _Codec] | None = receiver.__dict__.get("_streamhub_codecs")
    if known is None:
        known = receiver._streamhub_codecs = {}
    codec = known.get(payload_type)
    if codec is None or codec.params is not params:  # new, or renegotiated
        codec = known[payload_type] = _Codec(params)
    return codec


def receive_rtp(dtls: RTCDtlsTransport, data: bytes) -> None:
    """A decrypted RTP packet to the receiver it belongs to (aiortc's ``_handle_rtp_data``)."""
    try:
        packet = parse_rtp(data)
    except ValueError:
        return
    receiver = dtls._rtp_router.route_rtp(packet)
    if receiver is not None:
        handle_packet(receiver, packet)


def handle_packet(receiver: Any, packet: RtpPacket) -> None:
    """aiortc's ``RTCRtpReceiver._handle_rtp_packet`` without the REMB estimator, the debug
    line, the per-packet datetime and the coroutines (its feedback is driven in place)."""
    if not receiver._enabled:
        return
    codec = _codec(receiver, packet.payload_type)
    if codec is None:
        return
    ssrc = packet.ssrc
    streams = receiver._RTCRtpReceiver__remote_streams
    stats = streams.get(ssrc)
    if stats is None:
        stats = streams[ssrc] = StreamStatistics(codec.params.clockRate)
    if not stats.packets_received % _ACTIVE_EVERY:
        receiver._RTCRtpReceiver__active_ssrc[ssrc] = current_datetime()
    stats.add(packet)

    if codec.rtx:  # a retransmission: the original packet inside it
        original_ssrc = receiver._RTCRtpReceiver__rtx_ssrc.get(ssrc)
        apt = codec.params.parameters.get("apt")
        original = _codec(receiver, apt) if isinstance(apt, int) else None
        if original_ssrc is None or len(packet.payload) < 2 or original is None:
            return
        packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
        codec = original

    nacks = receiver._RTCRtpReceiver__nack_generator
    if nacks is not None and nacks.add(packet):
        drive(receiver._send_rtcp_nack(packet.ssrc, sorted(nacks.missing)))

    payload = packet.payload
    if not payload:
        packet._data = b""  # type: ignore[attr-defined]
    elif codec.depayload is None:
        packet._data = payload  # type: ignore[attr-defined]
    else:
        try:
            packet._data = codec.depayload(payload)  # type: ignore[attr-defined]
        except ValueError:
            return

    pli, frame = receiver._RTCRtpReceiver__jitter_buffer.add(packet)
    decoder_error = receiver._RTCRtpReceiver__decoder_error
    if decoder_error.is_set():
        decoder_error.clear()
        # Report the lost picture data to the sender (RFC 4585 section 6.3.1.1).
        pli = pli or receiver._RTCRtpReceiver__kind == "video"
    if pli:
        drive(receiver._send_rtcp_pli(packet.ssrc))
    if frame is not None and receiver._RTCRtpReceiver__decoder_thread:
        frame.timestamp = receiver._RTCRtpReceiver__timestamp_mapper.map(frame.timestamp)
        receiver._RTCRtpReceiver__decoder_queue.put((codec.params, frame))


async def _handle_rtp_packet(self: RTCRtpReceiver, packet: RtpPacket, arrival_time_ms: int) -> None:
    """aiortc's own entry (packets before the fast path starts): the same code."""
    handle_packet(self, packet)


# ------------------------------------------------------------------ the datagram fast path


class FastPath:
    """SRTP and SRTCP from a connected transport's peer, handled where the datagram lands."""

    __slots__ = ("_srtp", "connection", "dtls", "handled", "host", "port")

    def __init__(self, dtls: RTCDtlsTransport, connection: Any, addr: tuple[Any, ...]) -> None:
        self.dtls = dtls
        self.connection = connection
        self.host, self.port = addr[0], addr[1]
        self.handled = 0
        self._srtp: tuple[SrtpCall, SrtpCall] | None = None  # RTP's and RTCP's unprotect

    def __call__(self, data: bytes) -> bool:
        """Handle one datagram; False when it is not for the fast path after all."""
        dtls = self.dtls
        session = dtls._rx_srtp
        if session is None or dtls._state is not State.CONNECTED:
            return False
        calls = self._srtp
        if calls is None or calls[0].session is not session:
            calls = self._srtp = (unprotector(session), rtcp_unprotector(session))
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        self.handled += 1
        rtcp = 192 <= data[1] <= 208  # RFC 5761
        try:
            clear = calls[1](data) if rtcp else calls[0](data)
        except (SrtpError, ValueError):
            return True  # not ours, replayed, damaged or too long: dropped, as aiortc does
        try:
            if rtcp:
                drive(handle_rtcp_data(dtls, clear))
            else:
                receive_rtp(dtls, clear)
        except Exception:
            logger.exception("receiving a packet failed")
            return True
        self.connection._streamhub_heard = True
        return True


def _set_state(self: RTCDtlsTransport, state: State) -> None:
    _original_set_state(self, state)
    try:
        connection = self._transport._connection
    except AttributeError:
        return
    if state is State.CONNECTED:
        for pair in list(connection._nominated.values()):
            protocol: Any = pair.protocol  # carries our fast path beside aioice's state
            protocol._streamhub_fast = FastPath(self, connection, pair.remote_addr)
    elif state in (State.CLOSED, State.FAILED):
        for protocol in list(getattr(connection, "_protocols", ())):
            protocol._streamhub_fast = None


def take_fast(protocol: Any, data: bytes, addr: tuple[Any, ...]) -> bool:
    """Called by the datagram guard for every non-STUN datagram: True when handled here."""
    fast: FastPath | None = getattr(protocol, "_streamhub_fast", None)
    if fast is None or not 127 < data[0] < 192 or addr[1] != fast.port or addr[0] != fast.host:
        return False
    return fast(data)


# ------------------------------------------------------------------ no decoder thread


class InlineDecoderQueue:
    """Stands in for a receiver's ``queue.Queue`` to its decoder thread: each assembled frame
    goes through the frame tap (``get_decoder``) and into the track's queue at once."""

    def __init__(self) -> None:
        self.output: asyncio.Queue[Any] | None = None
        self.direct: Callable[[Any], None] | None = None  # see deliver_inline
        self._taps: dict[str, Any] = {}

    def put(self, item: Any) -> None:
        output = self.output
        if output is None:
            return
        deliver = self.direct or output.put_nowait
        if item is None:  # the receiver stops: the track ends
            deliver(None)
            return
        codec, encoded_frame = item
        tap = self._taps.get(codec.mimeType)  # not ``name``: a property that splits it
        if tap is None:
            tap = self._taps[codec.mimeType] = aiortc.rtcrtpreceiver.get_decoder(codec)
        for packet in tap.decode(encoded_frame):
            deliver(packet)


class InlineDecoderThread:
    """Stands in for the receiver's decoder thread: nothing runs, the queue does the work."""

    def __init__(self, target: Any = None, name: str = "", args: tuple[Any, ...] = ()) -> None:
        _loop, decoder_queue, track_queue, _error = args
        decoder_queue.output = track_queue
        track_queue._streamhub_inline = decoder_queue

    def start(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass


def deliver_inline(track: Any, on_frame: Callable[[Any], None]) -> bool:
    """Hand a received track's frames to ``on_frame`` as they are assembled, on the event loop
    (None once the track ends), instead of queueing them for ``recv``. False while that cannot
    start: the track is not a live one of a receiver with the inline decoder queue (aiortc
    starts the receiver only once the transport connects), or frames still wait in its queue
    (read them with ``recv`` first, in order, and ask again)."""
    queue = getattr(track, "_queue", None)
    inline: InlineDecoderQueue | None = getattr(queue, "_streamhub_inline", None)
    if inline is None or track.readyState != "live" or not queue.empty():  # type: ignore[union-attr]
        return False
    inline.direct = on_frame
    return True


def stop_inline(track: Any) -> None:
    """Frames of ``track`` go to its queue again (``deliver_inline`` undone)."""
    inline: InlineDecoderQueue | None = getattr(
        getattr(track, "_queue", None), "_streamhub_inline", None
    )
    if inline is not None:
        inline.direct = None


class _ThreadingShim:
    Thread = InlineDecoderThread
    Event = threading.Event


class _QueueShim:
    Queue = InlineDecoderQueue


def _no_bitrate_estimator() -> None:
    return None


def install() -> None:
    aiortc.rtcrtpreceiver.threading = _ThreadingShim  # type: ignore[assignment]
    aiortc.rtcrtpreceiver.queue = _QueueShim  # type: ignore[assignment]
    aiortc.rtcrtpreceiver.RemoteBitrateEstimator = _no_bitrate_estimator  # type: ignore[assignment,misc]
    RTCDtlsTransport._set_state = _set_state  # type: ignore[method-assign]
    RTCRtpReceiver._handle_rtp_packet = _handle_rtp_packet  # type: ignore[method-assign]
