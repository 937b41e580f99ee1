"""RTMP's framing: the handshake, and messages split into chunks on interleaved chunk streams.

Only what a publishing encoder (FFmpeg, OBS's librtmp, lecture-capture boxes) sends is read,
and every size is bounded before anything is allocated: messages (the 24-bit length field
allows 16 MiB), chunk streams in progress, and the chunk size a peer may set.

The handshake is the plain one (S2 echoes C1): publishing clients do not check the server's
digest (FFmpeg checks it only when playing, librtmp only for RTMPE).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

HANDSHAKE_SIZE = 1536
RTMP_VERSION = 3

# Message types.
SET_CHUNK_SIZE, ABORT, ACKNOWLEDGEMENT, USER_CONTROL = 1, 2, 3, 4
WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 5, 6
AUDIO, VIDEO = 8, 9
DATA_AMF3, COMMAND_AMF3, DATA_AMF0, COMMAND_AMF0, AGGREGATE = 15, 17, 18, 20, 22

DEFAULT_CHUNK_SIZE = 128
# A chunk size up to this is taken (encoders use 4,096 to 64 KiB); a larger one is refused:
# it buys nothing and says the peer is not an encoder.
MAX_CHUNK_SIZE = 1 << 20
# Messages being assembled at once (an encoder interleaves two or three: audio, video, data).
MAX_OPEN_STREAMS = 8


class ProtocolError(ValueError):
    """The peer does not speak RTMP as a publisher does; the connection is closed."""


@dataclass(slots=True)
class Message:
    type_id: int
    stream_id: int
    timestamp: int  # milliseconds
    payload: bytes


@dataclass(slots=True)
class _ChunkStream:
    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    buffer: bytearray | None = None  # the message being assembled


async def accept_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """C0+C1 → S0+S1+S2 → C2."""
    c0c1 = await reader.readexactly(1 + HANDSHAKE_SIZE)
    if c0c1[0] != RTMP_VERSION:
        # 6 is RTMPE (encrypted), anything else is not RTMP at all.
        raise ProtocolError(f"not plain RTMP (version byte {c0c1[0]})")
    s1 = bytes(8) + os.urandom(HANDSHAKE_SIZE - 8)
    writer.write(bytes([RTMP_VERSION]) + s1 + c0c1[1:])
    await writer.drain()
    await reader.readexactly(HANDSHAKE_SIZE)


class ChunkReader:
    """Reads whole messages from a connection, reassembling their chunks."""

    def __init__(self, reader: asyncio.StreamReader, max_message: int) -> None:
        self._reader = reader
        self._streams: dict[int, _ChunkStream] = {}
        self.chunk_size = DEFAULT_CHUNK_SIZE
        # Raised once the peer is trusted (its key accepted): commands before that are small.
        self.max_message = max_message
        self.bytes_read = 0

    def set_chunk_size(self, size: int) -> None:
        size &= 0x7FFFFFFF  # the top bit is reserved
        if not 1 <= size <= MAX_CHUNK_SIZE:
            raise ProtocolError(f"chunk size {size} outside 1..{MAX_CHUNK_SIZE}")
        self.chunk_size = size

    def abort(self, chunk_stream: int) -> None:
        state = self._streams.get(chunk_stream)
        if state is not None:
            state.buffer = None

    async def _read(self, n: int) -> bytes:
        data = await self._reader.readexactly(n)
        self.bytes_read += n
        return data

    async def read_message(self) -> Message:
        while True:
            message = await self._read_chunk()
            if message is not None:
                return message

    async def _read_chunk(self) -> Message | None:
        first = (await self._read(1))[0]
        fmt, csid = first >> 6, first & 0x3F
        if csid == 0:
            csid = 64 + (await self._read(1))[0]
        elif csid == 1:
            low, high = await self._read(2)
            csid = 64 + low + (high << 8)
        state = self._streams.get(csid)
        if state is None:
            if fmt != 0:
                raise ProtocolError(f"chunk stream {csid} starts without a full header")
            if len(self._streams) >= 64:
                raise ProtocolError("too many chunk streams")
            state = self._streams[csid] = _ChunkStream()
        if fmt < 3:
            if state.buffer is not None:
                raise ProtocolError(f"chunk stream {csid}: a new message before the last ended")
            header = await self._read((11, 7, 3)[fmt])
            stamp = int.from_bytes(header[0:3], "big")
            if fmt < 2:
                state.length = int.from_bytes(header[3:6], "big")
                state.type_id = header[6]
            if fmt == 0:
                state.stream_id = int.from_bytes(header[7:11], "little")
            state.extended = stamp == 0xFFFFFF
            if state.extended:
                stamp = int.from_bytes(await self._read(4), "big")
            # As FFmpeg reads it: the header's field is the delta a following type-3 message
            # header repeats, absolute for type 0.
            state.delta = stamp
            state.timestamp = stamp if fmt == 0 else state.timestamp + stamp
        else:
            if state.extended:
                await self._read(4)  # repeated on every continuation chunk
            if state.buffer is None:
                state.timestamp += state.delta
        if state.buffer is None:
            if state.length > self.max_message:
                raise ProtocolError(
                    f"message of {state.length} bytes (type {state.type_id}) over the "
                    f"{self.max_message}-byte limit"
                )
            open_streams = sum(1 for s in self._streams.values() if s.buffer is not None)
            if open_streams >= MAX_OPEN_STREAMS:
                raise ProtocolError("too many messages interleaved")
            state.buffer = bytearray()
        size = min(self.chunk_size, state.length - len(state.buffer))
        if size:
            state.buffer += await self._read(size)
        if len(state.buffer) < state.length:
            return None
        payload = bytes(state.buffer)
        state.buffer = None
        return Message(state.type_id, state.stream_id, state.timestamp & 0xFFFFFFFF, payload)


def encode_message(
    csid: int, type_id: int, stream_id: int, payload: bytes, chunk_size: int
) -> bytes:
    """One message as chunks (a full header, then one-byte continuation headers); the server
    sends only control and command messages, at time 0."""
    assert 2 <= csid <= 63
    out = bytearray([csid]) + bytes(3)
    out += len(payload).to_bytes(3, "big") + bytes([type_id]) + stream_id.to_bytes(4, "little")
    for start in range(0, max(len(payload), 1), chunk_size):
        if start:
            out.append(0xC0 | csid)
        out += payload[start : start + chunk_size]
    return bytes(out)
