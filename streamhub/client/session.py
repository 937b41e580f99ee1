"""LessonClient: join a lesson with a token in any role, negotiate, publish, receive.

Used by the classroom agent, the recorder, the tests and the benchmarks; it speaks only the
wire protocol (streamhub.protocol) and never imports hub internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from streamhub.client.events import Closed, ConnectionStateChanged, TrackReceived
from streamhub.client.ice_plans import IcePlan, ice_plans, probe_all, rank
from streamhub.errors import ErrorCode, StreamhubError
from streamhub.media import aiortc_hooks
from streamhub.media.turn_probe import TurnProbe
from streamhub.protocol import (
    PUBLISH_SLOTS,
    SLOT_KIND,
    Answer,
    Error,
    Join,
    Joined,
    Message,
    MessageError,
    Offer,
    Ping,
    Pong,
    Renegotiate,
    Request,
    Slot,
    TilesChanged,
    dump,
    layout_for,
    parse_server_message,
)
from streamhub.queues import EventQueue

logger = logging.getLogger(__name__)


class ClientError(StreamhubError):
    """The hub answered a request with an error."""

    def __init__(self, code: ErrorCode, message: str, url: str | None = None) -> None:
        super().__init__(message, code=code)
        self.url = url


MAX_REDIRECTS = 3
# Events waiting for the application to read them. A client that never reads its events (a
# benchmark's, a test's) keeps the newest: chat lines and stats summaries go first.
EVENTS_MAX = 1024

# Signaling URL -> the TURN URL (None: none) media last connected through, so a rejoin after a
# network drop starts with what worked.
_preferred_plans: dict[str, str | None] = {}


def signaling_url(hub_url: str) -> str:
    parts = urlsplit(hub_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class LessonClient:
    def __init__(
        self,
        hub_url: str,
        token: str,
        *,
        ice_host_addresses: tuple[str, ...] | list[str] = ("127.0.0.1",),
        name: str | None = None,
        codecs: tuple[str, ...] = ("VP8", "opus"),
        request_timeout_s: float = 10.0,
        max_message_bytes: int = 1 << 22,
        ssl_context: ssl.SSLContext | None = None,
        ice_timeout_s: float = 8.0,
    ) -> None:
        # Released by close(); a client dropped unclosed releases it when collected.
        self._hooks = aiortc_hooks.install(ice_host_addresses)
        if ssl_context is not None:
            # aioice's turns: connections take no context of their own: process-wide.
            aiortc_hooks.set_turn_ssl_context(ssl_context)
        self.ssl_context = ssl_context
        self.ice_timeout_s = ice_timeout_s
        self.ice_plan: IcePlan | None = None
        self.turn_probes: dict[str, TurnProbe] = {}
        self.url = signaling_url(hub_url)
        self.token = token
        self.name = name
        self.codecs = list(codecs)
        self.request_timeout_s = request_timeout_s
        self.max_message_bytes = max_message_bytes
        self.pc: RTCPeerConnection | None = None
        self.joined: Joined | None = None
        self.layout: list[Slot] = []
        self.tracks: dict[Slot, MediaStreamTrack] = {}
        self.tile_tracks: dict[str, MediaStreamTrack] = {}
        self.tiles: dict[str, str | None] = {}
        self.slots: dict[str, Slot] = {}
        self.senders: dict[Slot, RTCRtpSender] = {}
        self.negotiations = 0
        self.closed: Closed | None = None
        self._ws: Any = None
        self._events: EventQueue[Any] = EventQueue(EVENTS_MAX)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._renegotiator: asyncio.Task[None] | None = None
        self._negotiating = asyncio.Lock()
        self._wanted_tiles = 0
        self._settled = asyncio.Event()

    # ------------------------------------------------------------ connecting

    async def connect(
        self, publish: Mapping[Slot, MediaStreamTrack | None] | None = None
    ) -> Joined:
        """Join, then negotiate the role's slot layout, publishing the given tracks.

        A hub node that does not hold the lesson redirects the join to the one that does.
        With TURN servers, ICE falls back on its own: direct UDP and TURN/UDP first, then
        TURN/TCP, then TURN/TLS (``ice_plans``); each fallback is a fresh join."""
        joined = await self._join_following_redirects()
        plans = ice_plans(list(joined.ice_servers))
        ordered = plans
        if len(plans) > 1:
            remembered = [
                p
                for p in plans
                if self.url in _preferred_plans and p.turn_url == _preferred_plans[self.url]
            ]
            if remembered:
                # Last time's way first, then the others as the hub ordered them.
                ordered = remembered + [p for p in plans if p is not remembered[0]]
            else:
                self.turn_probes = await probe_all(plans)
                ordered = rank(plans, self.turn_probes)
        for attempt, plan in enumerate(ordered):
            last = attempt == len(ordered) - 1
            if attempt:
                await self._abandon_attempt()
                joined = await self._join_following_redirects()
            self.ice_plan = plan
            self.joined = joined
            await self._start_peer(plan, publish)
            if last and attempt == 0:
                return joined  # nothing to fall back to: connecting is the caller's business
            if await self._wait_connected(self.ice_timeout_s):
                _preferred_plans[self.url] = plan.turn_url
                logger.info("media connected through %s (%s)", plan.label, self.media_path)
                return joined
            logger.warning("media did not connect through %s; trying the next way", plan.label)
            _preferred_plans.pop(self.url, None)
        return joined  # the last plan is left running: ICE may still make it

    @property
    def media_path(self) -> str | None:
        """ "host" (direct), "relay/udp", "relay/tcp" or "relay/tls" once media connected."""
        return aiortc_hooks.media_path(self.pc) if self.pc is not None else None

    async def _join_following_redirects(self) -> Joined:
        for _ in range(MAX_REDIRECTS):
            try:
                return await self._join()
            except ClientError as exc:
                if exc.code is not ErrorCode.REDIRECT or not exc.url:
                    raise
                await self._drop_socket()
                self.url = signaling_url(exc.url)
        raise ClientError(ErrorCode.TOO_MANY_REDIRECTS, "the hub nodes kept redirecting the join")

    async def _start_peer(
        self, plan: IcePlan, publish: Mapping[Slot, MediaStreamTrack | None] | None
    ) -> None:
        assert self.joined is not None
        self.layout = list(self.joined.layout)
        self._wanted_tiles = self.layout.count(Slot.TILE_VIDEO)
        servers = [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in plan.servers
        ]
        # One transport for every slot: with aiortc's default (balanced) policy, each extra
        # m-line of a kind that the answerer bundles would wait on a transport that never starts.
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.pc.on("connectionstatechange", self._state_changed)
        for slot in self.layout:
            self._add_transceiver(slot, (publish or {}).get(slot))
        await self._negotiate()

    async def _wait_connected(self, timeout: float) -> bool:
        assert self.pc is not None
        await self._connected(timeout)
        return self.pc.connectionState == "connected"

    async def _abandon_attempt(self) -> None:
        """Drop a peer connection that did not connect, and its join, quietly: the events of
        this client are about the lesson, not about a fallback in progress."""
        pc, self.pc = self.pc, None
        if pc is not None:
            pc.remove_all_listeners("connectionstatechange")
            await pc.close()
        await self._drop_socket()
        self.tracks.clear()
        self.tile_tracks.clear()
        self.tiles.clear()
        self.slots.clear()
        self.senders.clear()
        self._settled = asyncio.Event()

    def _add_transceiver(self, slot: Slot, track: MediaStreamTrack | None) -> RTCRtpTransceiver:
        assert self.pc is not None
        if slot in PUBLISH_SLOTS:
            transceiver = self.pc.addTransceiver(track or SLOT_KIND[slot], direction="sendonly")
            self.senders[slot] = transceiver.sender
        else:
            transceiver = self.pc.addTransceiver(SLOT_KIND[slot], direction="recvonly")
        return transceiver

    async def _state_changed(self) -> None:
        assert self.pc is not None
        state = self.pc.connectionState
        if state in ("connected", "failed", "closed"):
            self._settled.set()
        self._events.force(ConnectionStateChanged(state))

    async def _connected(self, timeout: float = 15.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), timeout)

    async def _negotiate(self) -> None:
        assert self.pc is not None
        async with self._negotiating:
            offer = await self.pc.createOffer()
            await self.pc.setLocalDescription(offer)
            answer = await self._request(Offer(sdp=self.pc.localDescription.sdp), Answer)
            await self.pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
            self.negotiations += 1
            self.slots = dict(answer.slots)
            self.tiles.update(answer.tiles)
            by_mid = {t.mid: t for t in self.pc.getTransceivers()}
            for mid, slot in answer.slots.items():
                transceiver = by_mid.get(mid)
                if transceiver is None or slot in PUBLISH_SLOTS:
                    continue
                track = transceiver.receiver.track
                if slot in (Slot.TILE_VIDEO, Slot.TILE_AUDIO):
                    if mid in self.tile_tracks:
                        continue
                    self.tile_tracks[mid] = track
                elif slot in self.tracks:
                    continue
                else:
                    self.tracks[slot] = track
                self._events.force(TrackReceived(slot, track, mid))

    async def _renegotiate(self, tiles: int) -> None:
        assert self.pc is not None
        # aiortc starts the transports of the previous answer in a background task that indexes
        # the remote description by transceiver: adding transceivers before it is done crashes it.
        await self._connected()
        self._wanted_tiles = max(self._wanted_tiles, tiles)
        have = self.layout.count(Slot.TILE_VIDEO)
        if self._wanted_tiles <= have:
            return
        assert self.joined is not None
        self.layout = layout_for(self.joined.participant.role, self._wanted_tiles)
        for _ in range(self._wanted_tiles - have):
            self._add_transceiver(Slot.TILE_VIDEO, None)
            self._add_transceiver(Slot.TILE_AUDIO, None)
        await self._negotiate()

    # ------------------------------------------------------------ publishing

    def publish(self, slot: Slot, track: MediaStreamTrack | None) -> None:
        """Start (or stop, with None) sending on a publish slot without renegotiation."""
        sender = self.senders.get(slot)
        if sender is None:
            raise ValueError(f"{slot} is not a publish slot of this role")
        sender.replaceTrack(track)

    # ------------------------------------------------------------ messages

    async def send(self, message: Message) -> None:
        if self._ws is None:
            raise ClientError(ErrorCode.NOT_CONNECTED, "connect() first")
        await self._ws.send(dump(message))

    async def request(self, message: Request) -> Any:
        """Send with an id; return the hub's reply (ack or result), raise ClientError on error."""
        return await self._request(message, None)

    async def _request(self, message: Request, expect: type | None) -> Any:
        request_id = f"r{next(self._ids)}"
        message = message.model_copy(update={"id": request_id})
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self.send(message)
            reply = await asyncio.wait_for(future, self.request_timeout_s)
        finally:
            self._pending.pop(request_id, None)
        if isinstance(reply, Error):
            raise ClientError(reply.code, reply.message, reply.url)
        if expect is not None and not isinstance(reply, expect):
            raise ClientError(
                ErrorCode.UNEXPECTED_REPLY, f"expected {expect.__name__}, got {reply.type}"
            )
        return reply

    async def _join(self) -> Joined:
        wss = self.ssl_context is not None and self.url.startswith("wss:")
        secure: dict[str, Any] = {"ssl": self.ssl_context} if wss else {}
        self._ws = await websockets.connect(
            self.url,
            max_size=self.max_message_bytes,
            open_timeout=self.request_timeout_s,
            **secure,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="client-reader")
        join = Join(token=self.token, codecs=self.codecs, name=self.name)
        joined: Joined = await self._request(join, Joined)
        return joined

    async def _drop_socket(self) -> None:
        """Forget a signaling socket that only redirected us."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self._ws = self._reader = None
        self.closed = None
        self._events = EventQueue(EVENTS_MAX)

    async def _read(self) -> None:
        code: int | None = None
        reason = ""
        try:
            async for raw in self._ws:
                try:
                    message = parse_server_message(raw, self.max_message_bytes)
                except MessageError as exc:
                    logger.warning("unreadable hub message: %s", exc)
                    continue
                self._route(message)
        except websockets.ConnectionClosed:
            pass
        except Exception:
            logger.exception("signaling reader failed")
        finally:
            if self._ws is not None and self._ws.close_code is not None:
                code, reason = self._ws.close_code, self._ws.close_reason or ""
            self.closed = Closed(code, reason)
            for future in self._pending.values():
                if not future.done():
                    future.set_result(
                        Error(code=ErrorCode.CLOSED, message=reason or "connection closed")
                    )
            self._events.force(self.closed)

    def _route(self, message: Any) -> None:
        request_id = getattr(message, "id", None)
        if request_id is not None and request_id in self._pending:
            future = self._pending[request_id]
            if not future.done():
                future.set_result(message)
            if not isinstance(message, Joined | Answer):
                return
        if isinstance(message, Ping):
            asyncio.get_running_loop().create_task(self._safe_send(Pong()))
            return
        if isinstance(message, Renegotiate) and self.pc is not None:
            self._schedule_renegotiation(message.tiles)
        if isinstance(message, TilesChanged):
            self.tiles.update(message.tiles)
        self._events.force(message)

    def _schedule_renegotiation(self, tiles: int) -> None:
        async def run() -> None:
            try:
                await self._renegotiate(tiles)
            except Exception:
                logger.exception("renegotiation failed")

        previous = self._renegotiator
        if previous is not None and not previous.done():
            self._wanted_tiles = max(self._wanted_tiles, tiles)
            previous.add_done_callback(lambda _: self._schedule_renegotiation(self._wanted_tiles))
            return
        self._renegotiator = asyncio.get_running_loop().create_task(run(), name="renegotiate")

    async def _safe_send(self, message: Message) -> None:
        with contextlib.suppress(Exception):
            await self.send(message)

    async def events(self) -> AsyncIterator[Any]:
        """Hub messages and client events, in order; ends after Closed."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event
            if isinstance(event, Closed):
                return

    async def next_event(self, kind: type, timeout: float = 10.0) -> Any:
        """Wait for the next event of a type (convenience for agents and tests)."""

        async def find() -> Any:
            async for event in self.events():
                if isinstance(event, kind):
                    return event
            raise ClientError(ErrorCode.CLOSED, "connection closed before the event")

        return await asyncio.wait_for(find(), timeout)

    # ------------------------------------------------------------ closing

    async def close(self) -> None:
        tasks = [t for t in (self._renegotiator,) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 2.0)
            if not self._reader.done():
                self._reader.cancel()
                await asyncio.gather(self._reader, return_exceptions=True)
        if self.pc is not None:
            await self.pc.close()
        self._hooks.release()

    async def __aenter__(self) -> LessonClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
