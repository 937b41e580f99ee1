"""What a live lesson feels while someone attacks the hub's HTTP side (issue 13, items 6 and 7).

A real hub subprocess with a live lesson: a lecturer publishing 320x240 video, a classroom
receiving it (frames per second counted on the classroom's lecturer track). Then, one after the
other, bounded in count and time, all on loopback:

1. body flood: ``--flood-workers`` clients each post an anonymous ``--body-mb`` MB JSON body
   to POST /api/schools again and again for ``--flood-seconds``; reported: bodies tried, what
   the hub answered, bytes it made the attacker send, its peak RSS, the lesson's fps meanwhile;
2. slowloris: ``--half-open`` connections from 127.0.0.2 that never finish their request
   headers, held for at most ``--hold-seconds``; reported: how many the hub kept open over time
   (and how many it refused at once), the lesson's fps, and the latency of a normal request and
   of a lesson's admin call from the lesson's own address meanwhile.

``--source DIR`` runs the hub from another checkout (e.g. ``git archive main``) for "before"
figures. Prints one JSON object as its last line.

    .venv/bin/python bench/abuse.py [--protocol auto|h11|httptools] [--source DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_average, log
from bench.hubproc import running_hub, status_kb
from streamhub.client import LessonClient
from streamhub.protocol import Slot
from tests.support.hub import AdminApi
from tests.support.lecturer import lecturer_teaching

ATTACKER = "127.0.0.2"


class FpsMeter:
    """Frames of the lecturer's video arriving at a classroom, per second."""

    def __init__(self, client: LessonClient) -> None:
        self.client = client
        self.stamps: list[float] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        track = self.client.tracks[Slot.LECTURER_VIDEO]
        while True:
            await track.recv()
            self.stamps.append(time.monotonic())

    def fps(self, start: float, end: float) -> float:
        frames = sum(1 for t in self.stamps if start <= t < end)
        return round(frames / max(end - start, 1e-6), 1)

    def worst_second(self, start: float, end: float) -> float:
        seconds = [self.fps(t, t + 1) for t in _range(start, end - 1, 1.0)]
        return min(seconds) if seconds else 0.0

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def _range(start: float, stop: float, step: float) -> list[float]:
    out, t = [], start
    while t <= stop:
        out.append(t)
        t += step
    return out


async def sample_rss(pid: int, into: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        kb = status_kb(pid, "VmRSS")
        if kb is not None:
            into.append(kb)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def one_body(port: int, path: str, size: int, token: str | None) -> tuple[str, int]:
    """Post a ``size``-byte body in 1 MB writes; returns (answer, bytes the hub took)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"POST {path} HTTP/1.1", "Host: hub", "Content-Type: application/json",
            f"Content-Length: {size}"]  # fmt: skip
    if token:
        head.append(f"Authorization: Bearer {token}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    answer = asyncio.ensure_future(reader.readuntil(b"\r\n"))
    chunk = b"[" + b"0," * (1 << 19)
    sent = 0
    try:
        while sent < size and not answer.done():
            piece = chunk[: size - sent]
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
        line = await asyncio.wait_for(answer, 30)
        status = line.split()[1].decode() if len(line.split()) > 1 else "?"
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
        # The hub answered and closed while the body was still being written (a reset).
        early = answer.done() and not answer.cancelled() and answer.exception() is None
        status = answer.result().split()[1].decode() if early else "closed"
    finally:
        answer.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return status, sent


async def body_flood(port: int, path: str, args: argparse.Namespace) -> dict[str, Any]:
    size = int(args.body_mb * 1_000_000)
    deadline = time.monotonic() + args.flood_seconds
    answers: dict[str, int] = {}
    sent_total = 0
    tried = 0

    async def worker() -> None:
        nonlocal sent_total, tried
        while time.monotonic() < deadline:
            tried += 1
            status, sent = await one_body(port, path, size, None)
            answers[status] = answers.get(status, 0) + 1
            sent_total += sent

    await asyncio.gather(*(worker() for _ in range(args.flood_workers)))
    return {
        "bodies_tried": tried,
        "answers": answers,
        "mb_sent_per_body": round(sent_total / max(tried, 1) / 1e6, 3),
    }


async def slowloris(port: int, args: argparse.Namespace, probe: Any) -> dict[str, Any]:
    held: list[asyncio.StreamWriter] = []
    refused_at_once = 0
    for _ in range(args.half_open):
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(ATTACKER, 0)
            )
        except OSError:
            refused_at_once += 1
            continue
        writer.write(b"GET /api/lessons HTTP/1.1\r\nHost: hub\r\nX-Slow: ")
        held.append(writer)
        writer._slow_reader = reader  # type: ignore[attr-defined]
    start = time.monotonic()
    timeline = []
    latencies: list[float] = []
    admin_ok = 0

    def still_open(writer: asyncio.StreamWriter) -> bool:
        # Closed by the hub: a FIN (end of stream) or, with our request unread, a reset.
        reader: asyncio.StreamReader = writer._slow_reader  # type: ignore[attr-defined]
        return not reader.at_eof() and reader.exception() is None

    while time.monotonic() - start < args.hold_seconds:
        open_now = sum(1 for w in held if still_open(w))
        timeline.append({"t": round(time.monotonic() - start, 1), "held_open": open_now})
        t0 = time.monotonic()
        ok = await probe()
        latencies.append((time.monotonic() - t0) * 1000)
        admin_ok += ok
        if open_now == 0:
            break
        await asyncio.sleep(1.0)
    for w in held:
        w.close()
    return {
        "half_open_tried": args.half_open,
        "refused_at_connect": refused_at_once,
        "held_timeline": timeline,
        "all_closed_after_s": timeline[-1]["t"]
        if timeline and timeline[-1]["held_open"] == 0
        else None,
        "legit_request_ms": {
            "median": round(statistics.median(latencies), 1) if latencies else None,
            "max": round(max(latencies), 1) if latencies else None,
        },
        "legit_admin_calls_ok": f"{admin_ok}/{len(latencies)}",
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {"STREAMHUB_RECORDER__ENABLED": "false", "STREAMHUB_HTTP__PROTOCOL": args.protocol}
    if args.source:
        # `python -m streamhub` finds the package in its working directory first.
        env["PYTHONPATH"] = args.source
        os.chdir(args.source)
    result: dict[str, Any] = {
        "bench": "abuse",
        "protocol": args.protocol,
        "source": args.source or "this checkout",
        "cpus": os.cpu_count(),
    }
    with (
        tempfile.TemporaryDirectory(prefix="abuse-") as work,
        running_hub(Path(work) / "hub", env) as hub,
    ):
        assert hub.proc is not None
        pid = hub.proc.pid
        api = AdminApi(hub.url)
        setup = await api.lesson(classrooms=1)
        lecturer = await lecturer_teaching(hub.url, setup.lecturer_token, 320, 240)
        classroom = LessonClient(hub.url, await api.device_token(setup.credentials[0]))
        await classroom.connect({})
        meter = FpsMeter(classroom)

        async def probe() -> int:
            response = await api.http.get(f"/api/lessons/{setup.lesson_id}")
            return int(response.status_code == 200)

        try:
            await asyncio.sleep(3.0)  # warm-up: the first key frame, encoder ramp-up
            t0 = time.monotonic()
            await asyncio.sleep(args.baseline_seconds)
            t1 = time.monotonic()
            result["baseline"] = {
                "fps": meter.fps(t0, t1),
                "rss_mb": round((status_kb(pid, "VmRSS") or 0) / 1024, 1),
            }
            log("baseline", result["baseline"])

            rss: list[int] = []
            stop = asyncio.Event()
            sampler = asyncio.ensure_future(sample_rss(pid, rss, stop))
            t2 = time.monotonic()
            # A route with a JSON body (a route without one never reads it).
            flood = await body_flood(hub.port, "/api/schools", args)
            t3 = time.monotonic()
            stop.set()
            await sampler
            flood.update(
                seconds=round(t3 - t2, 1),
                lesson_fps=meter.fps(t2, t3),
                lesson_worst_second_fps=meter.worst_second(t2, t3),
                hub_rss_peak_mb=round(max(rss, default=0) / 1024, 1),
                classroom_still_connected=classroom.closed is None,
            )
            result["body_flood"] = flood
            log("body flood", flood)

            t4 = time.monotonic()
            loris = await slowloris(hub.port, args, probe)
            t5 = time.monotonic()
            loris.update(
                lesson_fps=meter.fps(t4, t5),
                lesson_worst_second_fps=meter.worst_second(t4, t5),
                classroom_still_connected=classroom.closed is None,
            )
            result["slowloris"] = loris
            log("slowloris", {k: v for k, v in loris.items() if k != "held_timeline"})
            lesson = (await api.http.get(f"/api/lessons/{setup.lesson_id}")).json()
            result["lesson_status_after"] = lesson.get("status")
        finally:
            await meter.close()
            await classroom.close()
            await lecturer.close()
            await api.close()
    result["load_average"] = load_average()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=["auto", "h11", "httptools"], default="auto")
    parser.add_argument("--source", default=None, help="run the hub from this source tree")
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--body-mb", type=float, default=60.0)
    parser.add_argument("--flood-workers", type=int, default=4)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--half-open", type=int, default=500)
    parser.add_argument("--hold-seconds", type=float, default=20.0)
    args = parser.parse_args()
    if args.source:
        args.source = str(Path(args.source).resolve())
    if args.half_open > 2000 or args.flood_seconds > 120 or args.hold_seconds > 120:
        parser.error("bounded: at most 2000 connections, 120 s per phase")
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
