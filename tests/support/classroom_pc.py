"""A classroom PC in a test: `classroom_agent run` on a real X display (Xvfb + openbox, its
projector window full screen) and a real sound server (PulseAudio null sinks, the loudspeakers'
monitor recordable), for tests that need what the room sees and hears from a lesson.

The agent publishes neither camera nor microphone here (``--video-source none``,
``--audio-source none``): these tests look at what it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classroom_agent.config import AgentConfig, save_config
from classroom_agent.status import read_status, state_path
from tests.agent.conftest import ROOT, agent_command, agent_env
from tests.support.desktop import Desktop
from tests.support.pulse import PulseServer
from tests.support.wait import eventually


@dataclass
class ClassroomPc:
    desktop: Desktop
    pulse: PulseServer
    config: Path
    process: subprocess.Popen[bytes]
    work: Path

    def status(self) -> dict[str, Any]:
        return read_status(state_path(self.config)) or {}

    def media(self) -> dict[str, Any]:
        """The agent's own figures (`status`'s ``media``): ``window_fps``, what its projector
        window put on screen per second over its last 5 s, and the loudspeakers' buffer."""
        return self.status().get("media") or {}

    def log(self) -> str:
        path = self.work / "agent.out"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    async def played(self, seconds: float) -> np.ndarray:
        """What the loudspeakers play for ``seconds`` (mono int16, 48 kHz)."""
        return await asyncio.to_thread(self.pulse.record, seconds)


@dataclass(frozen=True)
class AgentFps:
    """The agent's frame rates over one of its 5 s stats windows wholly after its first
    picture: pictures received (``stats.fps``, what it reports to the hub as received_fps)
    and put on the projector (``window_fps``)."""

    received: float
    shown: float


async def agent_fps(
    pc: ClassroomPc, enough: Callable[[AgentFps], bool], timeout: float = 45.0
) -> list[AgentFps]:
    """Wait (up to ``timeout``) for the projector's first picture, then read the agent's
    reports until one's window is ``enough``; every window read, in order (the last one is
    ``enough`` unless the time ran out)."""
    await eventually(lambda: pc.media().get("window_fps"), timeout=timeout, interval=0.2)
    first = time.time()
    windows: list[AgentFps] = []
    last = 0.0

    def read() -> bool:
        nonlocal last
        status = pc.status()
        written = float(status.get("updated_at") or 0.0)
        # Both figures are 5 s averages the agent writes with its stats (every 5 s): a report
        # written 11 s after the first picture was seen averages a window wholly after it.
        if written < first + 11 or written == last:
            return False
        last = written
        stats, media = status.get("stats") or {}, status.get("media") or {}
        window = AgentFps(float(stats.get("fps") or 0.0), float(media.get("window_fps") or 0.0))
        windows.append(window)
        return enough(window)

    with contextlib.suppress(AssertionError):  # the time ran out: the caller judges
        await eventually(read, timeout=timeout, interval=0.2)
    return windows


@contextlib.asynccontextmanager
async def classroom_pc(
    hub_url: str, credential: str, work: Path, screen: tuple[int, int] = (640, 360)
) -> AsyncIterator[ClassroomPc]:
    """The classroom PC with ``credential``, running: it joins its classroom's lessons as
    they go live (polling every 0.3 s). A small screen by default: the projector window scales
    every picture to it, and a test machine has other work to do."""
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    desktop, pulse = Desktop(screen), PulseServer()
    await asyncio.to_thread(desktop.start)
    out = (work / "agent.out").open("wb")
    process: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.to_thread(pulse.start)
        config = work / "agent" / "agent.json"
        save_config(AgentConfig(hub_url, credential, language="en"), config)
        command = agent_command(config, "run", "--poll-interval", "0.3")
        command += ["--video-source", "none", "--audio-source", "none"]
        env = {**agent_env(), **desktop.env(), **pulse.env()}
        process = await asyncio.to_thread(
            subprocess.Popen, command, env=env, cwd=ROOT, stdout=out, stderr=out
        )
        yield ClassroomPc(desktop, pulse, config, process, work)
    finally:
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)
        out.close()
        pulse.close()
        desktop.stop()
