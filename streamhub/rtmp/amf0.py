"""AMF0, the encoding of RTMP's commands: just the types encoders send in NetConnection and
NetStream commands. Decoding is bounded (nesting, entries), so a hostile command is an error,
not a memory or recursion problem."""

from __future__ import annotations

import struct
from typing import Any

NUMBER, BOOLEAN, STRING, OBJECT, NULL, UNDEFINED = 0x00, 0x01, 0x02, 0x03, 0x05, 0x06
ECMA_ARRAY, OBJECT_END, STRICT_ARRAY, DATE, LONG_STRING = 0x08, 0x09, 0x0A, 0x0B, 0x0C

MAX_DEPTH = 8
MAX_ENTRIES = 256

_DOUBLE = struct.Struct("!d")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class AmfError(ValueError):
    """The bytes are not AMF0 this server reads."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise AmfError("truncated AMF0 value")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def text(self, length_size: int) -> str:
        raw = self.take(length_size)
        length = int.from_bytes(raw, "big")
        return self.take(length).decode("utf-8", "replace")

    def properties(self, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            key = self.text(2)
            if not key and self.data[self.pos : self.pos + 1] == bytes([OBJECT_END]):
                self.pos += 1
                return result
            if len(result) >= MAX_ENTRIES:
                raise AmfError("AMF0 object with too many entries")
            result[key] = self.value(depth + 1)

    def value(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise AmfError("AMF0 nested too deep")
        marker = self.take(1)[0]
        if marker == NUMBER:
            return _DOUBLE.unpack(self.take(8))[0]
        if marker == BOOLEAN:
            return self.take(1)[0] != 0
        if marker == STRING:
            return self.text(2)
        if marker == LONG_STRING:
            return self.text(4)
        if marker == OBJECT:
            return self.properties(depth)
        if marker == ECMA_ARRAY:
            self.take(4)  # a count that encoders fill in loosely: the end marker decides
            return self.properties(depth)
        if marker == STRICT_ARRAY:
            count = _U32.unpack(self.take(4))[0]
            if count > MAX_ENTRIES:
                raise AmfError("AMF0 array with too many entries")
            return [self.value(depth + 1) for _ in range(count)]
        if marker in (NULL, UNDEFINED):
            return None
        if marker == DATE:
            millis = _DOUBLE.unpack(self.take(8))[0]
            self.take(2)  # time zone, unused by AMF0 writers
            return millis
        raise AmfError(f"AMF0 type {marker:#x} not supported")


def decode(data: bytes) -> list[Any]:
    """Every value in ``data`` (a command: name, transaction id, then arguments)."""
    reader = _Reader(data)
    values: list[Any] = []
    while reader.pos < len(data):
        if len(values) >= MAX_ENTRIES:
            raise AmfError("AMF0 message with too many values")
        values.append(reader.value())
    return values


def _encode_text(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 0xFFFF:
        return bytes([LONG_STRING]) + _U32.pack(len(raw)) + raw
    return bytes([STRING]) + _U16.pack(len(raw)) + raw


def encode(*values: Any) -> bytes:
    out = bytearray()
    for value in values:
        if value is None:
            out.append(NULL)
        elif isinstance(value, bool):
            out += bytes([BOOLEAN, int(value)])
        elif isinstance(value, int | float):
            out.append(NUMBER)
            out += _DOUBLE.pack(float(value))
        elif isinstance(value, str):
            out += _encode_text(value)
        elif isinstance(value, dict):
            out.append(OBJECT)
            for key, item in value.items():
                raw = str(key).encode("utf-8")
                out += _U16.pack(len(raw)) + raw + encode(item)
            out += b"\x00\x00" + bytes([OBJECT_END])
        else:
            raise TypeError(f"cannot encode {type(value).__name__} as AMF0")
    return bytes(out)
