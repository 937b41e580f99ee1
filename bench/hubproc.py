"""Start the real hub (`python -m streamhub serve`) as a subprocess for a benchmark, and read
one process's CPU time and memory from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support.hub import HubProcess  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running_hub(data_dir: Path, env: dict[str, str], timeout: float = 60.0) -> Iterator[HubProcess]:
    """A hub subprocess on a free loopback port, killed (with its process group) on exit."""
    hub = HubProcess(data_dir, extra_env=dict(env))
    try:
        hub.start(timeout)
        yield hub
    finally:
        try:
            hub.stop()
        finally:
            hub.kill()


@contextlib.contextmanager
def running_nodes(data_dir: Path, env: dict[str, str], count: int) -> Iterator[list[HubProcess]]:
    """``count`` hub subprocesses sharing one catalog; above one, they need STREAMHUB_REDIS_URL
    in ``env`` to share their live state."""
    if count == 1:
        with running_hub(data_dir, env) as hub:
            yield [hub]
        return
    with contextlib.ExitStack() as stack:
        nodes = []
        for index in range(count):
            node = HubProcess(data_dir)
            node.extra_env = {
                **env,
                "STREAMHUB_NODE_ID": f"node-{index}",
                "STREAMHUB_PUBLIC_URL": node.url,
            }
            stack.callback(node.kill)
            stack.callback(node.stop)
            # One at a time: the first node migrates the shared catalog.
            node.start()
            nodes.append(node)
        yield nodes


def cpu_seconds(pid: int) -> float | None:
    """utime+stime of one process (all its threads), None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kb(pid: int, key: str) -> int | None:
    """A memory line of /proc/<pid>/status (VmRSS, VmHWM, ...) in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def hub_gauge(http: httpx.AsyncClient, name: str) -> float | None:
    """One unlabelled gauge from the hub's /metrics (None when absent)."""
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def hub_packets(http: httpx.AsyncClient) -> tuple[float, float]:
    """(datagrams received, sent) by the hub's open peer connections, from /metrics."""
    text = (await http.get("/metrics")).text
    found = {"in": 0.0, "out": 0.0}
    for line in text.splitlines():
        if line.startswith("streamhub_media_packets{"):
            direction = line.split('direction="', 1)[1].split('"', 1)[0]
            found[direction] = float(line.rsplit(" ", 1)[1])
    return found["in"], found["out"]


class JsonWorkers:
    """A bench's helper processes (``bench/<script>``), each answering one JSON line per JSON
    line it is sent; ``{"stop": true}`` or the end of its input ends it."""

    def __init__(self, script: str, count: int, args: tuple[str, ...] = ()) -> None:
        self.script = script
        self.count = count
        self.args = args
        self.procs: list[asyncio.subprocess.Process] = []
        self._locks: list[asyncio.Lock] = []

    async def start(self) -> None:
        for _ in range(self.count):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "bench" / self.script),
                *self.args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            self.procs.append(proc)
            self._locks.append(asyncio.Lock())

    async def ask(self, worker: int, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        proc = self.procs[worker]
        assert proc.stdin is not None and proc.stdout is not None
        async with self._locks[worker]:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"{self.script} worker {worker} exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def ask_all(self, request: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(*(self.ask(w, request, timeout) for w in range(self.count)))
        )

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(proc.pid) or 0.0 for proc in self.procs)

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.write(b'{"stop": true}\n')
                proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
