"""Small helpers shared by the benchmarks: process CPU, percentiles, subprocess lifetimes, and a
plain-aiortc offer/answer client for the non-StreamHub baselines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ CPU


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def session_cpu_split(session_id: int) -> tuple[float, float]:
    """(utime, stime) of every live process of a session (a subprocess started in its own).

    The kernel's share matters on loopback: a datagram sent to a peer on this machine is
    delivered, and its receiver woken, inside the sender's ``sendto``, so a hub's system time
    holds work a real network card would do elsewhere."""
    user = system = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        # After the name: state(0) ppid(1) pgrp(2) session(3) ... utime(11) stime(12).
        if fields is None or int(fields[3]) != session_id:
            continue
        user += int(fields[11])
        system += int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def session_cpu_seconds(session_id: int) -> float:
    """utime+stime of every live process of a session (a subprocess started in its own)."""
    return sum(session_cpu_split(session_id))


def machine_busy_seconds() -> float:
    """CPU seconds spent busy on all cores (everything but idle and iowait), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already inside user)
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / CLOCK_TICKS


def load_average() -> float:
    return os.getloadavg()[0]


# ------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys against xs."""
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def median_of_runs(runs: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Each figure's median over repeated runs (the runs that measured it), to 0.1."""
    medians: dict[str, float | None] = {}
    for key in runs[0] if runs else ():
        values = [value for run in runs if (value := run.get(key)) is not None]
        medians[key] = rounded(statistics.median(values), 1) if values else None
    return medians


# ------------------------------------------------------------------ subprocesses


def stop_session(proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """SIGTERM the process group of a subprocess started with start_new_session, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# ------------------------------------------------------------------ plain aiortc peers


def loopback_configuration():  # type: ignore[no-untyped-def]
    from aiortc import RTCBundlePolicy, RTCConfiguration

    # iceServers=[]: aiortc falls back to a public STUN server when it is None.
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


async def offer_answer(pc, url: str, role: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Offer over the relay's one-shot WebSocket signaling and apply its answer."""
    import websockets
    from aiortc import RTCSessionDescription

    offer = await pc.createOffer()
    await pc.setLocalDescription(offer)
    async with websockets.connect(url, max_size=1 << 22, open_timeout=timeout) as ws:
        await ws.send(json.dumps({"role": role, "sdp": pc.localDescription.sdp}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    if "error" in reply:
        raise RuntimeError(f"relay refused {role}: {reply['error']}")
    await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))


def wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {host}:{port}")
