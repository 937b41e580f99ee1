"""Debian's ``ffmpeg`` CLI pushing a synthetic H.264/AAC stream over RTMP, as a lecture-capture
box does."""

from __future__ import annotations

import asyncio
import contextlib
import signal

FFMPEG = "ffmpeg"


def push_args(url: str, seconds: float = 60.0) -> list[str]:
    return [
        FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin",
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
