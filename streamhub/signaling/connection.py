"""One signaling WebSocket: a reader, a bounded writer queue, a heartbeat, a rate limit.

Other parts never write to the socket: they ``post`` to the outbox. Errors become typed
``error`` messages here and WebSocket close codes in ``close_code`` (one place each).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from streamhub.errors import Redirect, StreamhubError
from streamhub.protocol import (
    CLOSE_CODES,
    Error,
    ErrorCode,
    Join,
    Message,
    MessageError,
    Ping,
    Request,
    dump,
    parse_client_message,
)
from streamhub.services import Services
from streamhub.signaling.limits import KindLimits, Outbox, Strikes, TokenBucket, kind_of
from streamhub.signaling.session import Session

logger = logging.getLogger(__name__)

OUTBOX_SIZE = 512
# Chat lines and stats summaries waiting for a slow reader; older ones are dropped.
BULK_OUTBOX_SIZE = 64
ESSENTIAL_TASKS = frozenset({"ws-writer", "ws-heartbeat", "ws-reader"})

_last_serialized: tuple[Message | None, str] = (None, "")


def _serialized(message: Message) -> str:
    """A broadcast posts one message object to every member in turn: serialize it once."""
    global _last_serialized
    if _last_serialized[0] is not message:
        _last_serialized = (message, dump(message))
    return _last_serialized[1]


def close_code(code: ErrorCode) -> int:
    return CLOSE_CODES[code]


class State(enum.Enum):
    CONNECTED = "connected"
    JOINED = "joined"
    CLOSING = "closing"


class Connection:
    def __init__(self, websocket: WebSocket, services: Services) -> None:
        self.ws = websocket
        self.services = services
        self.settings = services.settings.signaling
        self.state = State.CONNECTED
        self.outbox = Outbox(OUTBOX_SIZE, BULK_OUTBOX_SIZE)
        self.bucket = TokenBucket(self.settings.messages_per_second, self.settings.burst)
        self.kinds = KindLimits(self.settings)
        self.strikes = Strikes(self.settings.strike_limit, self.settings.strike_decay_per_second)
        self.last_received = time.monotonic()
        self.session: Session | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._close_code = 1000
        self._close_reason = ""
        self._closed = asyncio.Event()

    # ------------------------------------------------------------ outbox

    def post(self, message: Message) -> None:
        if self.state is State.CLOSING:
            return
        if not self.outbox.put(_serialized(message), message):
            # A client that cannot keep up with signaling is not going to keep up with media.
            self.shutdown(ErrorCode.SLOW_CONSUMER, "outbox overflow")

    def send_error(self, code: ErrorCode, message: str, request_id: str | None = None) -> None:
        self.services.metrics.error_sent(code)
        self.post(Error(id=request_id, code=code, message=message))

    def shutdown(self, code: ErrorCode, reason: str) -> None:
        if self.state is State.CLOSING:
            return
        self.state = State.CLOSING
        self.services.metrics.connection_closed(code)
        self._close_code = close_code(code)
        self._close_reason = reason[:120]
        self._closed.set()

    # ------------------------------------------------------------ tasks

    async def _writer(self) -> None:
        while True:
            text = await self.outbox.get()
            if text is None:
                return
            await self.ws.send_text(text)

    async def _heartbeat(self) -> None:
        interval = self.settings.heartbeat_interval_s
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - self.last_received > self.settings.heartbeat_timeout_s:
                self.shutdown(
                    ErrorCode.HEARTBEAT_TIMEOUT, "no message within the heartbeat timeout"
                )
                return
            self.post(Ping())

    async def _expire(self, exp: int) -> None:
        """A token is checked at the join; its expiry ends the session it opened too."""
        await asyncio.sleep(max(0.0, exp - time.time()))
        self.send_error(ErrorCode.SESSION_EXPIRED, "the access token expired; join again")
        self.shutdown(ErrorCode.SESSION_EXPIRED, "the access token expired")

    async def _media_deadline(self, session: Session) -> None:
        """A member whose media never connects would stay in the lesson, listed and routed,
        for as long as its socket lives: its media must connect within peer_timeout_s."""
        await asyncio.sleep(self.settings.peer_timeout_s)
        if session.peer is not None and session.peer.connected_at is None:
            message = f"media did not connect within {self.settings.peer_timeout_s:g} s"
            self.send_error(ErrorCode.MEDIA_TIMEOUT, message)
            self.shutdown(ErrorCode.MEDIA_TIMEOUT, message)

    async def _reader(self) -> None:
        try:
            await self._read_join(time.monotonic() + self.settings.join_timeout_s)
        except TimeoutError:
            self.send_error(ErrorCode.JOIN_TIMEOUT, "no join message in time")
            self.shutdown(ErrorCode.JOIN_TIMEOUT, "no join message in time")
            return
        while self.state is State.JOINED:
            raw = await self._receive()
            if raw is None:
                return
            message = self._parse(raw)
            if message is not None:
                await self._dispatch(message)

    async def _receive(self) -> str | bytes | None:
        event = await self.ws.receive()
        if event["type"] == "websocket.disconnect":
            self.shutdown(ErrorCode.LEFT, "client disconnected")
            return None
        self.last_received = time.monotonic()
        return event.get("text") if event.get("text") is not None else event.get("bytes")

    def _parse(self, raw: str | bytes) -> Any:
        if not self.bucket.take():
            self._strike("too many messages; slow down", None)
            return None
        try:
            message = parse_client_message(raw, self.settings.max_message_bytes)
        except MessageError as exc:
            self.send_error(exc.code, exc.message, exc.request_id)
            return None
        if not self.kinds.take(message):
            kind = kind_of(message).value
            self._strike(f"too many {kind} messages; slow down", getattr(message, "id", None))
            return None
        return message

    def _strike(self, reason: str, request_id: str | None) -> None:
        self.send_error(ErrorCode.RATE_LIMITED, reason, request_id)
        if self.strikes.add():
            self.shutdown(ErrorCode.RATE_LIMITED, "sustained message flood")

    async def _read_join(self, deadline: float) -> None:
        while self.state is State.CONNECTED:
            # Only the wait for the join is timed: a join that arrived in time is processed
            # to the end, however busy the hub is.
            raw = await asyncio.wait_for(self._receive(), max(0.0, deadline - time.monotonic()))
            if raw is None:
                return
            message = self._parse(raw)
            if message is None:
                continue
            if not isinstance(message, Join):
                self.send_error(
                    ErrorCode.NOT_JOINED, "send join first", getattr(message, "id", None)
                )
                continue
            session = Session(self, self.services)
            try:
                await session.join(message)
            except asyncio.CancelledError:
                # The socket closed mid-join: undo whatever part of the join happened.
                await session.leave("left")
                raise
            except Redirect as exc:
                self.post(Error(id=message.id, code=exc.code, message=exc.message, url=exc.url))
                self.shutdown(exc.code, exc.message)
                return
            except StreamhubError as exc:
                self.send_error(exc.code, exc.message, message.id)
                self.shutdown(exc.code, exc.message)
                return
            self.session = session
            self.state = State.JOINED
            self._spawn(self._expire(session.me.grant.exp), "ws-expiry")
            self._spawn(self._media_deadline(session), "ws-media-deadline")
            # last_received is still the arrival time of this join message
            self.services.metrics.joined(session.participant, self.last_received)

    async def _dispatch(self, message: Request) -> None:
        assert self.session is not None
        try:
            await self.session.handle(message)
        except StreamhubError as exc:
            self.send_error(exc.code, exc.message, message.id)
        except Exception:
            logger.exception(
                "message %s failed", type(message).__name__, extra=self.session.log_context
            )
            self.send_error(ErrorCode.INTERNAL, "internal error", message.id)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, WebSocketDisconnect | ConnectionError):
            logger.error("connection task %s failed", task.get_name(), exc_info=exc)
        # The session's deadline watchers end by themselves; the socket's own tasks ending
        # ends the connection.
        if self.state is not State.CLOSING and task.get_name() in ESSENTIAL_TASKS:
            self.shutdown(ErrorCode.LEFT, "connection ended")

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        await self.ws.accept()
        self._spawn(self._writer(), "ws-writer")
        self._spawn(self._heartbeat(), "ws-heartbeat")
        self._spawn(self._reader(), "ws-reader")
        await self._closed.wait()
        await self._finish()

    async def _finish(self) -> None:
        reader_tasks = [t for t in self._tasks if t.get_name() != "ws-writer"]
        for task in reader_tasks:
            task.cancel()
        await asyncio.gather(*reader_tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.leave(self._close_reason or "left")
        # Let queued messages (a final error, lesson_ended) go out before the close frame.
        writer = next((t for t in self._tasks if t.get_name() == "ws-writer"), None)
        if writer is not None:
            self.outbox.finish()
            try:
                await asyncio.wait_for(asyncio.gather(writer, return_exceptions=True), 2.0)
            except TimeoutError:
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
        try:
            await self.ws.close(self._close_code, self._close_reason)
        except Exception:
            pass  # the peer is already gone
