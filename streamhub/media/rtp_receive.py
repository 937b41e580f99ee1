"""The receive path of every peer connection in our processes, without what a forwarder pays
for and does not need (issue 19: a received packet cost the hub 170-190 µs).

aiortc 1.16 hands each datagram from aioice's protocol to a queue, wakes the DTLS transport's task
for it, tries to parse every SRTP packet as STUN first, estimates REMB on every video packet, and
sends every assembled frame (each 20 ms of audio too) to a decoder thread and back to the event
loop with ``run_coroutine_threadsafe``. Installed by ``streamhub.media.aiortc_hooks.install``:

- ``FastPath``: once a DTLS transport is connected, an SRTP/SRTCP datagram from the address of
  its chosen ICE pair is decrypted and handled right in ``datagram_received`` (``drive`` runs
  aiortc's handler coroutines to the end on the spot; they do not really suspend), instead of
  taking the queue, the task wake-up and the STUN parse attempt;
- ``InlineDecoderQueue``/``InlineDecoderThread`` stand in for the receiver's decoder thread: the
  encoded-frame tap (``get_decoder``) runs on the event loop and puts its ``av.Packet`` straight
  into the track's queue, or, for a hub's ``TrackSource`` (``deliver_inline``), hands it to the
  source right there: no queue, and no task woken for each frame (every 20 ms of each
  classroom's audio is one);
- no REMB estimator: the hub forwards (its REMB would only throttle a publisher that many
  receivers share) and a client's REMB to the hub is never read (pre-encoded senders).

aiortc/aioice internals used (pinned, tests/media/test_rtp_receive.py): the module globals
``threading``, ``queue`` and ``RemoteBitrateEstimator`` of ``aiortc.rtcrtpreceiver``;
``RTCDtlsTransport._set_state``, ``_state``, ``_rx_srtp``, ``_handle_rtp_data``,
``_handle_rtcp_data``, ``__rx_bytes``/``__rx_packets``, ``_transport._connection._nominated``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import aiortc.rtcrtpreceiver
import pylibsrtp
from aiortc import RTCDtlsTransport
from aiortc.rtcdtlstransport import State

from streamhub.media.clock import ntp_ms

logger = logging.getLogger(__name__)

_original_set_state = RTCDtlsTransport._set_state
handle_rtp_data = RTCDtlsTransport._handle_rtp_data
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


# ------------------------------------------------------------------ the datagram fast path


class FastPath:
    """SRTP and SRTCP from a connected transport's peer, handled where the datagram lands."""

    __slots__ = ("connection", "dtls", "handled", "host", "port")

    def __init__(self, dtls: RTCDtlsTransport, connection: Any, addr: tuple[Any, ...]) -> None:
        self.dtls = dtls
        self.connection = connection
        self.host, self.port = addr[0], addr[1]
        self.handled = 0

    def __call__(self, data: bytes) -> bool:
        """Handle one datagram; False when it is not for the fast path after all."""
        dtls = self.dtls
        srtp = dtls._rx_srtp
        if srtp is None or dtls._state is not State.CONNECTED:
            return False
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        self.handled += 1
        try:
            if 192 <= data[1] <= 208:  # RTCP (RFC 5761)
                drive(handle_rtcp_data(dtls, srtp.unprotect_rtcp(data)))
            else:
                drive(handle_rtp_data(dtls, srtp.unprotect(data), ntp_ms()))
        except pylibsrtp.Error:
            return True  # not ours, replayed or damaged: dropped, as aiortc does
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
        tap = self._taps.get(codec.name)
        if tap is None:
            tap = self._taps[codec.name] = aiortc.rtcrtpreceiver.get_decoder(codec)
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
