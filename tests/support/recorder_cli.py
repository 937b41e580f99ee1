"""The `recorder` console program run as a separate process, the way an operator runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

FIRST_SEGMENT_TIMEOUT_S = 20.0


def _record_command(hub_url: str, token: str, folder: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "recorder", "record", "--hub", hub_url, "--token", token,
            "--dir", str(folder), *options]  # fmt: skip


async def record_then_kill(hub_url: str, token: str, folder: Path, hold: float) -> float:
    """Start `recorder record`, SIGKILL it ``hold`` s after its first video segment has bytes;
    return how many seconds it recorded."""
    proc = await asyncio.create_subprocess_exec(
        *_record_command(hub_url, token, folder, "--no-finalize"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first = folder / "lecturer_video-000.mkv"
        deadline = time.monotonic() + FIRST_SEGMENT_TIMEOUT_S
        while not (first.exists() and first.stat().st_size > 0):
            assert proc.returncode is None, f"the recorder exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the recorder never wrote a segment"
            await asyncio.sleep(0.05)
        began = time.monotonic()
        await asyncio.sleep(hold)
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.wait_for(proc.wait(), 10)
        assert proc.returncode == -signal.SIGKILL
        return killed - began
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def finalize_folder(folder: Path, *options: str) -> float:
    """`recorder finalize [options] FOLDER` in its own process; return its wall time."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "recorder",
        "finalize",
        *options,
        str(folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, f"finalize {folder.name}: {err.decode()[-2000:]}"
    return time.monotonic() - started


async def start_recorder(hub_url: str, token: str, folder: Path) -> asyncio.subprocess.Process:
    """`recorder record` in its own process, as an operator starts it (stderr piped)."""
    return await asyncio.create_subprocess_exec(
        *_record_command(hub_url, token, folder, "--thumbnail-every", "5"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def recorder_exit(proc: asyncio.subprocess.Process, timeout: float = 90.0) -> tuple[int, str]:
    """The recorder's exit code and its stderr, once it exits by itself."""
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")
