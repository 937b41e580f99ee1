"""The RTMP bridge: a lecture-capture box pushing ``rtmp://HUB:1935/live/<stream key>`` becomes
the lesson's lecturer camera and microphone.

It goes the WHIP publisher's way (streamhub.signaling.whip): admitted by the registry as the
lecturer (a token minted for the key's row, so the lesson, its codec and the row's revocation
are checked as for any join), it enters the room as a *feed* member holding the camera and
microphone slots; the lecturer page may stay open to moderate. Its H.264 access units go to the
hub's forwarder as they came (no transcode: ``TrackSource`` packetizes them once for every
classroom); its AAC is transcoded to Opus in a thread of its own (``media.AudioPipeline``).

The RTMP server is ours (``chunks``, ``amf0``): the key arrives in the ``publish`` command and
is checked there, so a wrong or revoked key is refused before any media is accepted, which an
FFmpeg ``listen`` server cannot do (it accepts whatever stream name comes). Every connection is
a task owned here, bounded in time (``rtmp.auth_timeout_s`` to an accepted key,
``rtmp.idle_timeout_s`` between messages) and in size (``chunks`` limits), and ended at
shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamhub.errors import ConfigError, Redirect, StreamhubError
from streamhub.lesson.participant import Participant
from streamhub.lesson.registry import JoinRefused
from streamhub.media.forwarder import TrackSource
from streamhub.media.keyframes import KeyframeRequester
from streamhub.protocol import ErrorCode, Join, Role, Slot
from streamhub.rtmp import amf0
from streamhub.rtmp.chunks import (
    ABORT,
    ACKNOWLEDGEMENT,
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    DATA_AMF0,
    DATA_AMF3,
    SET_CHUNK_SIZE,
    SET_PEER_BANDWIDTH,
    USER_CONTROL,
    VIDEO,
    WINDOW_ACK_SIZE,
    ChunkReader,
    Message,
    ProtocolError,
    accept_handshake,
    encode_message,
)
from streamhub.rtmp.flv import AvcReader, FlvError, read_audio
from streamhub.rtmp.keys import KeyRefused, KeyRow, check_key
from streamhub.rtmp.media import AudioPipeline, PacketTrack, video_packet
from streamhub.signaling.whip import STALE_S, WhipSessions

if TYPE_CHECKING:
    from streamhub.hub_parts import HubParts
    from streamhub.lesson.room import Room

logger = logging.getLogger(__name__)

APP = "live"
OUT_CHUNK_SIZE = 4096
WINDOW = 2_500_000
# Before the key is accepted a peer sends commands only: small messages, few of them.
PRE_AUTH_MESSAGE_BYTES = 65536
PRE_AUTH_MESSAGES = 64
STREAM_ID = 1
# Video messages that fail to parse in a row before the push is ended (one is a glitch).
MAX_BAD_FRAMES = 50


class PublishRefused(Exception):
    """The push is refused; the message goes to the encoder in ``onStatus``."""

    def __init__(self, message: str, code: str = "NetStream.Publish.BadName") -> None:
        super().__init__(message)
        self.status_code = code


async def _no_keyframe_request() -> bool:
    # RTMP has no way to ask the encoder for a key frame: subscribers wait for the next one
    # (the README asks for a key frame every 1-2 s).
    return False


@dataclass(eq=False)
class RtmpSession:
    """One accepted push: its lesson, its member and its media."""

    lesson_id: int
    key_id: int
    connection: RtmpConnection
    participant: Participant | None = None
    room: Room | None = None
    video: PacketTrack = field(default_factory=lambda: PacketTrack("video"))
    audio: PacketTrack = field(default_factory=lambda: PacketTrack("audio", max_frames=50))
    sources: dict[Slot, TrackSource] = field(default_factory=dict)
    pipeline: AudioPipeline | None = None
    ended: bool = False
    created_at: float = field(default_factory=time.monotonic)
    last_media_at: float | None = None
    frames: int = 0

    def stale(self, now: float) -> bool:
        """Nothing received for ``STALE_S``: its encoder is gone (a half-open connection)."""
        return now - (self.last_media_at or self.created_at) > STALE_S

    @property
    def log_context(self) -> dict[str, Any]:
        pid = self.participant.id if self.participant is not None else None
        return {"lesson": self.lesson_id, "participant": pid}


class RtmpBridge:
    """The RTMP listener and every push of this hub node (at most one per lesson)."""

    def __init__(self, services: HubParts) -> None:
        self.services = services
        self.settings = services.settings.rtmp
        self.sessions: dict[int, RtmpSession] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.refused = 0

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        host = self.settings.host or self.services.settings.host
        try:
            self._server = await asyncio.start_server(
                self._accept, host, self.settings.port, reuse_address=True
            )
        except OSError as exc:
            raise ConfigError(
                f"rtmp.port: cannot listen on {host}:{self.settings.port} ({exc.strerror}); "
                "choose another rtmp.port or turn rtmp.enabled off"
            ) from None
        logger.info("RTMP bridge listening on %s:%s", host, self.port)

    async def close(self) -> None:
        """The hub stops: no new connections, every push ends, every task is awaited."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions.values()):
            await self.end(session, ErrorCode.SHUTDOWN, "the hub is shutting down")
        tasks = list(self._connections) + list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # ------------------------------------------------------------ connections

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            if len(self._connections) > self.settings.max_connections:
                logger.warning(
                    "rtmp: %s refused: %d connections open", peer, self.settings.max_connections
                )
                return
            await RtmpConnection(self, reader, writer, str(peer)).run()
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("rtmp: connection from %s failed", peer)
        finally:
            self._connections.discard(task)
            writer.close()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    # ------------------------------------------------------------ admission

    async def admit(self, key: str, connection: RtmpConnection) -> RtmpSession:
        """Check the key and take the lecturer's camera and microphone; refuse with a reason
        the encoder prints. Nothing in the lesson changes before the key is good."""
        services = self.services
        try:
            row = await check_key(services.catalog, services.secrets.jwt_secret, key)
        except KeyRefused as exc:
            raise PublishRefused(str(exc)) from None
        existing = self.sessions.get(row.lesson_id)
        if existing is not None:
            if not existing.stale(time.monotonic()):
                raise PublishRefused("another RTMP push already publishes this lesson")
            # The same box back after a network drop, its old connection not yet timed out.
            await self.end(existing, ErrorCode.REPLACED, "replaced by a new RTMP push")
            if row.lesson_id in self.sessions:
                raise PublishRefused("another RTMP push already publishes this lesson")
        session = RtmpSession(lesson_id=row.lesson_id, key_id=row.id, connection=connection)
        self.sessions[row.lesson_id] = session
        try:
            await self._enter(session, row)
        except BaseException as exc:
            # The connection stays open: it has yet to tell the encoder why.
            await self._teardown(session, "refused", close_connection=False)
            if isinstance(exc, StreamhubError):  # e.g. the lesson deleted meanwhile
                raise PublishRefused(exc.message) from None
            raise
        if session.ended:
            await self._teardown(session, "left", close_connection=False)
            raise PublishRefused("the push ended as it started; try again")
        logger.info("RTMP push publishing", extra=session.log_context)
        return session

    async def _enter(self, session: RtmpSession, row: KeyRow) -> None:
        services = self.services
        registry = services.lessons
        lesson = await services.catalog.get_lesson(row.lesson_id)
        if lesson.status == "ended":
            raise PublishRefused("the lesson has ended")
        held = registry.rooms.get(lesson.id)
        if held is not None:
            self._check_slots_free(held)
        if lesson.status == "scheduled":
            # As the lecturer page's "Go live": the lesson starts with its lecturer's media.
            lesson = await services.catalog.set_lesson_status(lesson.id, "live")
            await registry.go_live(services.catalog.info(lesson))
        token = services.tokens.issue(
            sub=f"lecturer-{lesson.id}-rtmp",
            role=Role.LECTURER,
            lesson=lesson.id,
            name=lesson.lecturer_name or "Lecturer",
            can_publish=True,
            lesson_key=lesson.row_key,
            token_id=row.id,
            jti=row.jti,
            ttl_s=services.settings.auth.access_token_ttl_s,
        )
        held = registry.rooms.get(lesson.id)
        codec_before = held.video_codec if held is not None else None
        try:
            grant, room = await registry.admit(Join(token=token, codecs=["opus", "H264"]))
        except Redirect:
            raise PublishRefused("this lesson is held by another hub node") from None
        except JoinRefused as exc:
            if exc.code == ErrorCode.NO_USABLE_CODEC:
                codec = held.video_codec if held is not None else None
                lesson_takes = f"is {codec}" if codec else "cannot be H.264 (media.video_codecs)"
                raise PublishRefused(
                    f"the lesson's video {lesson_takes}; an RTMP push brings H.264"
                ) from None
            raise PublishRefused(exc.message) from None
        except StreamhubError as exc:
            raise PublishRefused(exc.message) from None
        session.room = room
        try:
            self._check_slots_free(room)
            if session.ended:
                raise PublishRefused("the push ended as it started; try again")
        except BaseException:
            if not any(not m.hidden for m in room.members.values()):
                room.video_codec = codec_before  # a refused push does not choose the codec
            raise
        pid = f"rtmp-{secrets.token_hex(5)}"
        participant = Participant(
            id=pid,
            grant=grant,
            name=lesson.lecturer_name or "Lecturer",
            post=lambda _message: None,  # no signaling channel: room news is not for it
            close=lambda code, reason: self._spawn(
                self.end(session, code, reason), f"rtmp-end:{pid}"
            ),
            feed=Slot.CAMERA,
            ingest="rtmp",
        )
        interval = services.settings.media.keyframe_interval_ms / 1000
        session.sources = {
            Slot.CAMERA: TrackSource(
                session.video, KeyframeRequester(_no_keyframe_request, interval), f"{pid}/camera",
                f"video/{room.video_codec}",
            ),
            Slot.MICROPHONE: TrackSource(
                session.audio, KeyframeRequester(_no_keyframe_request, interval),
                f"{pid}/microphone", "audio/opus",
            ),
        }  # fmt: skip
        for source in session.sources.values():
            source.start()
        session.pipeline = AudioPipeline(session.audio, pid)
        session.participant = participant
        participant.layout = [Slot.MICROPHONE, Slot.CAMERA]
        participant.sources.update(session.sources)
        await registry.enter(room, participant)
        room.route()

    @staticmethod
    def _check_slots_free(room: Room) -> None:
        try:
            WhipSessions._check_slots_free(room, Slot.CAMERA)
        except StreamhubError as exc:
            raise PublishRefused(exc.message) from None

    # ------------------------------------------------------------ end

    async def end(self, session: RtmpSession, code: ErrorCode, reason: str) -> None:
        if session.ended:
            return
        session.ended = True
        logger.info("RTMP push ended: %s (%s)", code, reason, extra=session.log_context)
        await self._teardown(session, code)

    async def _teardown(
        self, session: RtmpSession, reason: str, close_connection: bool = True
    ) -> None:
        session.ended = True
        if self.sessions.get(session.lesson_id) is session:
            del self.sessions[session.lesson_id]
        if close_connection:
            session.connection.close()
        room, participant = session.room, session.participant
        if room is not None and participant is not None and participant.id in room.members:
            await self.services.lessons.leave(room, participant, reason)
        if session.pipeline is not None:
            await session.pipeline.close()
        session.video.stop()
        session.audio.stop()
        for source in session.sources.values():
            await source.close()


class RtmpConnection:
    """One TCP connection: handshake, ``connect``, ``createStream``, ``publish`` (the key),
    then media until the encoder stops, the connection drops or the hub ends the push."""

    def __init__(
        self,
        bridge: RtmpBridge,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        self.bridge = bridge
        self.settings = bridge.settings
        self.reader = ChunkReader(reader, PRE_AUTH_MESSAGE_BYTES)
        self._stream = reader
        self.writer = writer
        self.peer = peer
        self._ack_window = 0
        self._acked = 0
        self.session: RtmpSession | None = None
        self._avc = AvcReader()
        self._bad_frames = 0
        self._warned: set[str] = set()

    def close(self) -> None:
        """The hub ends the push: the encoder sees the connection close (and retries)."""
        if not self.writer.is_closing():
            self.writer.close()

    async def run(self) -> None:
        try:
            try:
                async with asyncio.timeout(self.settings.auth_timeout_s):
                    await accept_handshake(self._stream, self.writer)
                    key, txn = await self._until_publish()
                    # Kept at once: a timeout right after admission must still end it.
                    self.session = session = await self.bridge.admit(key, self)
            except PublishRefused as exc:
                self.bridge.refused += 1
                logger.info("rtmp: push from %s refused: %s", self.peer, exc)
                await self._status(exc.status_code, str(exc), "error", txn=0)
                return
            await self._status("NetStream.Publish.Start", "publishing", "status", txn=txn)
            self.reader.max_message = self.settings.max_message_bytes
            await self._media(session)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            logger.info("rtmp: connection from %s closed: %s", self.peer, type(exc).__name__)
        except (ProtocolError, amf0.AmfError, FlvError) as exc:
            logger.info("rtmp: connection from %s dropped: %s", self.peer, exc)
        finally:
            if self.session is not None:
                await self.bridge.end(self.session, ErrorCode.LEFT, "the RTMP push stopped")

    # ------------------------------------------------------------ messages

    async def _send(self, csid: int, type_id: int, payload: bytes, stream_id: int = 0) -> None:
        self.writer.write(encode_message(csid, type_id, stream_id, payload, OUT_CHUNK_SIZE))
        # A peer that does not read its socket stalls here, within the connection's timeouts.
        async with asyncio.timeout(self.settings.idle_timeout_s):
            await self.writer.drain()

    async def _status(self, code: str, description: str, level: str, txn: float) -> None:
        info = {"level": level, "code": code, "description": description}
        payload = amf0.encode("onStatus", txn, None, info)
        await self._send(5, COMMAND_AMF0, payload, STREAM_ID)

    async def _read(self) -> Message:
        message = await self.reader.read_message()
        if self._ack_window and self.reader.bytes_read - self._acked >= self._ack_window:
            self._acked = self.reader.bytes_read
            await self._send(2, ACKNOWLEDGEMENT, (self._acked & 0xFFFFFFFF).to_bytes(4, "big"))
        return message

    def _control(self, message: Message) -> bool:
        """Protocol control messages; True if ``message`` was one."""
        kind = message.type_id
        if kind == SET_CHUNK_SIZE:
            if len(message.payload) < 4:
                raise ProtocolError("short set-chunk-size")
            self.reader.set_chunk_size(int.from_bytes(message.payload[:4], "big"))
        elif kind == ABORT:
            if len(message.payload) >= 4:
                self.reader.abort(int.from_bytes(message.payload[:4], "big"))
        elif kind == WINDOW_ACK_SIZE:
            if len(message.payload) >= 4:
                self._ack_window = int.from_bytes(message.payload[:4], "big")
        elif kind not in (ACKNOWLEDGEMENT, USER_CONTROL, SET_PEER_BANDWIDTH):
            return False
        return True

    @staticmethod
    def _command(message: Message) -> list[Any] | None:
        if message.type_id == COMMAND_AMF0:
            return amf0.decode(message.payload)
        if message.type_id == COMMAND_AMF3:
            # AMF3 commands start with a 0 byte, then AMF0 values (what encoders send).
            return amf0.decode(message.payload[1:])
        return None

    async def _until_publish(self) -> tuple[str, float]:
        """Answer ``connect`` and ``createStream`` until ``publish`` names the key."""
        connected = False
        for _ in range(PRE_AUTH_MESSAGES):
            message = await self._read()
            if self._control(message) or message.type_id in (DATA_AMF0, DATA_AMF3):
                continue
            command = self._command(message)
            if command is None:
                raise ProtocolError(f"message type {message.type_id} before publish")
            if len(command) < 2 or not isinstance(command[0], str):
                raise ProtocolError("malformed command")
            name, txn = command[0], command[1] if isinstance(command[1], float) else 0.0
            if name == "connect":
                await self._connect(command, txn)
                connected = True
            elif not connected:
                raise ProtocolError(f"{name} before connect")
            elif name == "createStream":
                await self._send(3, COMMAND_AMF0, amf0.encode("_result", txn, None, STREAM_ID))
            elif name == "publish":
                key = command[3] if len(command) > 3 and isinstance(command[3], str) else ""
                return key, txn
            # releaseStream, FCPublish and the like need no answer.
        raise ProtocolError("no publish command")

    async def _connect(self, command: list[Any], txn: float) -> None:
        props = command[2] if len(command) > 2 and isinstance(command[2], dict) else {}
        app = str(props.get("app", "")).split("?", 1)[0].strip("/")
        if app != APP:
            await self._send(
                3, COMMAND_AMF0,
                amf0.encode("_error", txn, None, {
                    "level": "error", "code": "NetConnection.Connect.Rejected",
                    "description": f"unknown application {app!r}: publish to /{APP}/<stream key>",
                }),
            )  # fmt: skip
            raise ProtocolError(f"unknown application {app!r}")
        await self._send(2, WINDOW_ACK_SIZE, WINDOW.to_bytes(4, "big"))
        await self._send(2, SET_PEER_BANDWIDTH, WINDOW.to_bytes(4, "big") + b"\x02")
        await self._send(2, SET_CHUNK_SIZE, OUT_CHUNK_SIZE.to_bytes(4, "big"))
        result = amf0.encode(
            "_result", txn,
            {"fmsVer": "FMS/3,5,7,7009", "capabilities": 31.0},
            {"level": "status", "code": "NetConnection.Connect.Success",
             "description": "connected", "objectEncoding": 0.0},
        )  # fmt: skip
        await self._send(3, COMMAND_AMF0, result)

    # ------------------------------------------------------------ media

    async def _media(self, session: RtmpSession) -> None:
        assert session.pipeline is not None
        while not session.ended:
            async with asyncio.timeout(self.settings.idle_timeout_s):
                message = await self._read()
            if self._control(message):
                continue
            if message.type_id == VIDEO:
                self._video(session, message)
            elif message.type_id == AUDIO:
                self._audio(session, message)
            elif message.type_id in (COMMAND_AMF0, COMMAND_AMF3):
                command = self._command(message) or [""]
                if command[0] in ("deleteStream", "FCUnpublish", "closeStream"):
                    return
            # onMetaData and anything else: nothing to forward.

    def _video(self, session: RtmpSession, message: Message) -> None:
        try:
            frame = self._avc.read(message.payload)
        except FlvError as exc:
            if "is not H.264" in str(exc) or "enhanced RTMP" in str(exc):
                raise
            self._bad_frames += 1
            if self._bad_frames >= MAX_BAD_FRAMES:
                raise FlvError(f"{self._bad_frames} unreadable video frames in a row") from exc
            return
        self._bad_frames = 0
        session.last_media_at = time.monotonic()
        if frame is None:
            return
        if frame.composition_ms and "bframes" not in self._warned:
            # WebRTC receivers play in decoding order: B-frames come out of order.
            self._warned.add("bframes")
            logger.warning(
                "rtmp: the encoder sends B-frames; turn them off", extra=session.log_context
            )
        session.frames += 1
        session.video.put(video_packet(frame.annexb, message.timestamp, frame.keyframe))

    def _audio(self, session: RtmpSession, message: Message) -> None:
        assert session.pipeline is not None
        try:
            audio = read_audio(message.payload)
        except FlvError as exc:
            if "audio" not in self._warned:
                self._warned.add("audio")
                logger.warning("rtmp: no sound forwarded: %s", exc, extra=session.log_context)
            return
        session.last_media_at = time.monotonic()
        if audio.config is not None:
            session.pipeline.config(audio.config)
        elif audio.frame:
            session.pipeline.frame(audio.frame)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("task %s failed", task.get_name(), exc_info=task.exception())
