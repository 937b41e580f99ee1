"""Debian's ``ffmpeg`` CLI pushing a synthetic H.264/AAC stream over RTMP, as a lecture-capture
box does."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from streamhub.rtmp import amf0
from streamhub.rtmp.chunks import COMMAND_AMF0, encode_message

FFMPEG = "ffmpeg"
LOGLEVEL = "error"


def push_args(url: str, seconds: float = 60.0) -> list[str]:
    return [
        FFMPEG, "-hide_banner", "-loglevel", LOGLEVEL, "-nostdin",
        "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
        "-f", "lavfi", "-i", "sine=f=440:sample_rate=44100",
        "-t", f"{seconds:g}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
        "-c:a", "aac", "-b:a", "96k",
        "-f", "flv", url,
    ]  # fmt: skip


class Push:
    """One ``ffmpeg`` push; ``stop`` ends it as an operator would (SIGINT: FFmpeg unpublishes)."""

    def __init__(self, url: str, seconds: float = 60.0) -> None:
        self.url = url
        self.seconds = seconds
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr = b""

    async def start(self) -> Push:
        self.proc = await asyncio.create_subprocess_exec(
            *push_args(self.url, self.seconds),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return self

    async def wait(self, timeout: float = 20.0) -> int:
        """Its exit status (FFmpeg's refusal or end)."""
        assert self.proc is not None
        _out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        self.stderr = err or b""
        return int(self.proc.returncode or 0)

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        try:
            await self.wait(10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


class RawRtmp:
    """A hand-made RTMP client for what encoders never send (garbage, odd chunk sizes)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> RawRtmp:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def handshake(self) -> None:
        assert self.reader is not None and self.writer is not None
        self.writer.write(b"\x03" + bytes(1536))
        await self.writer.drain()
        s0s1s2 = await self.reader.readexactly(1 + 2 * 1536)
        self.writer.write(s0s1s2[1:1537])
        await self.writer.drain()

    async def send(self, type_id: int, payload: bytes, csid: int = 3, stream_id: int = 0) -> None:
        assert self.writer is not None
        self.writer.write(encode_message(csid, type_id, stream_id, payload, 128))
        await self.writer.drain()

    async def command(self, *values: object, stream_id: int = 0) -> None:
        await self.send(COMMAND_AMF0, amf0.encode(*values), stream_id=stream_id)

    async def closed(self, timeout: float = 10.0) -> bool:
        """Whether the hub closes the connection (reads until EOF)."""
        assert self.reader is not None

        async def drain() -> None:
            while await self.reader.read(65536):  # type: ignore[union-attr]
                pass

        try:
            await asyncio.wait_for(drain(), timeout)
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        # The hub's side is gone: ours is closed too (not left to the garbage collector).
        if self.writer is not None:
            self.writer.close()
        return True

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
