"""Signaling join-storm benchmark: K classrooms join a live lesson over WebSocket, no media.

A real hub subprocess (`python -m streamhub serve`, loopback, joins_per_minute raised) and K
plain `websockets` clients in this process. Classroom tokens are minted with the hub's JWT secret
(tests.support.hub.JWT_SECRET, which HubProcess sets), one identity per participant, for a lesson
created through the admin API with no invited classrooms (so any classroom may join). Minting
and lesson creation are setup and are not timed.

Each participant, at most --concurrency at once: connect, send `join`, wait for `joined`, send one
`chat` with an id, wait for its `ack` and for its own chat coming back in the broadcast; then it
stays connected and idle (answering pings) until every participant is done, when the hub's
memory is read; then everyone sends `leave` and closes.

Figures per K:

- joins_per_s: successful joins / (last `joined` - first connect start);
- join_latency_ms p50/p95/p99/max: connect start (TCP + WebSocket handshake included) to `joined`;
- chat_ack_ms and chat_echo_ms p50/p99: `chat` sent to its `ack` / to its own broadcast copy;
- memory_per_connection_kb: (hub VmRSS with all K connected and idle - VmRSS before the storm,
  after one warm-up join) / K; also the hub's RSS after everyone left;
- idle_cpu_fraction: hub CPU per wall second over a few idle seconds with K connected;
- hub_cpu_s / bench_cpu_s over the storm (a client-bound run shows bench_cpu near 1 core);
- messages_received: every message the K clients got (each chat goes to the whole lesson, so
  this grows as K^2 when everyone is in one lesson; classrooms are not told of each other's
  joins);
- redirected: participants whose first node did not hold their lesson and sent them on;
- failures, by reason (WebSocket close code/reason or timeout).

    python bench/signaling.py                      # K = 100, 500, 2000
    python bench/signaling.py --participants 500 --concurrency 200
    python bench/signaling.py --participants 2000 --per-lesson 100   # 20 lessons of 100

`--redis URL` runs two hub nodes (`--nodes N` for more) on that Redis, sharing one catalog; the
participants connect to the nodes in turn, and a node that does not hold a participant's lesson
redirects it (the join latency includes that hop). CPU, memory and file descriptors are summed
over the nodes.

    python bench/signaling.py --participants 500 --redis redis://127.0.0.1:6379/0
    python bench/signaling.py --participants 500 --per-lesson 50 --redis redis://127.0.0.1:6379/0
 Progress goes to stderr; the last line of stdout is one JSON object (for several K a
`results` list, with the largest K's figures also at the top level).
Goal: K=500 at >= 200 joins/s with p99 join latency <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt
import websockets

from bench.common import load_average, log, percentile, rounded
from bench.hubproc import cpu_seconds, open_fds, running_nodes, status_kb
from streamhub.client.session import signaling_url
from tests.support.hub import JWT_SECRET, AdminApi

DEFAULT_KS = (100, 500, 2000)
CODECS = ["VP8", "opus"]
PARTICIPANT_TIMEOUT_S = 120.0
MAX_REDIRECTS = 3
IDLE_SETTLE_S = 3.0
IDLE_WINDOW_S = 5.0


@dataclass
class Participant:
    index: int
    token: str
    started: float | None = None
    joined_at: float | None = None
    chat_sent: float | None = None
    acked_at: float | None = None
    echoed_at: float | None = None
    pid: str | None = None
    error: str | None = None
    messages: int = 0
    bytes: int = 0
    ws: Any = None
    redirect_url: str | None = None
    redirects: int = 0
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    echoed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def join_ms(self) -> float | None:
        if self.started is None or self.joined_at is None:
            return None
        return (self.joined_at - self.started) * 1000


def _fail(p: Participant, reason: str) -> None:
    if p.error is None:
        p.error = reason
    for event in (p.joined, p.acked, p.echoed):
        event.set()


async def reader(p: Participant) -> None:
    ws = p.ws
    try:
        async for raw in ws:
            now = time.monotonic()
            p.messages += 1
            p.bytes += len(raw)
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await ws.send('{"type":"pong"}')
            elif kind == "joined" and message.get("id") == "j1":
                p.pid = message["participant"]["id"]
                p.joined_at = now
                p.joined.set()
            elif kind == "ack" and message.get("id") == "c1":
                p.acked_at = now
                p.acked.set()
            elif kind == "chat" and p.pid is not None and message.get("sender") == p.pid:
                p.echoed_at = now
                p.echoed.set()
            elif kind == "error" and message.get("code") == "redirect" and message.get("url"):
                # Another node holds the lesson: the join goes there (see participant()).
                p.redirect_url = message["url"]
                p.joined.set()
                return
            elif kind == "error":
                _fail(p, f"error {message.get('code')}: {message.get('message')}")
    except websockets.ConnectionClosed:
        pass
    finally:
        close = ws.close_code
        redirected = p.redirect_url is not None and not p.joined_at
        done = p.joined.is_set() and p.echoed.is_set()
        if not redirected and (not done or close not in (None, 1000)):
            if close not in (None, 1000):
                _fail(p, f"closed {close} {ws.close_reason or ''}".strip())
            else:
                _fail(p, "closed before done")


async def participant(
    p: Participant,
    url: str,
    gate: asyncio.Semaphore,
    release: asyncio.Event,
    compression: bool,
) -> None:
    read_task: asyncio.Task[None] | None = None
    try:
        async with gate:
            p.started = time.monotonic()
            while True:
                p.ws = await websockets.connect(
                    url,
                    max_size=None,
                    open_timeout=60,
                    ping_interval=None,
                    compression="deflate" if compression else None,
                )
                read_task = asyncio.create_task(reader(p))
                await p.ws.send(
                    json.dumps(
                        {
                            "type": "join",
                            "id": "j1",
                            "v": 1,
                            "token": p.token,
                            "codecs": ["VP8", "opus"],
                        }
                    )
                )
                await p.joined.wait()
                if p.redirect_url is None or p.redirects >= MAX_REDIRECTS:
                    break
                # Redirected: the latency counts both nodes, as a real client's would.
                p.redirects += 1
                url = signaling_url(p.redirect_url)
                p.redirect_url = None
                p.joined.clear()
                await read_task
                with contextlib.suppress(Exception):
                    await p.ws.close()
            if p.error is not None or p.redirect_url is not None:
                _fail(p, "redirected too often")
                return
            p.chat_sent = time.monotonic()
            await p.ws.send(json.dumps({"type": "chat", "id": "c1", "text": f"hello {p.index}"}))
            await p.acked.wait()
            await p.echoed.wait()
        if p.error is None:
            await release.wait()
            await p.ws.send('{"type":"leave","id":"l1"}')
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(read_task), 10)
    except Exception as exc:
        _fail(p, f"{type(exc).__name__}: {exc}"[:160])
    finally:
        if p.ws is not None:
            with contextlib.suppress(Exception):
                await p.ws.close()
        if read_task is not None:
            read_task.cancel()
            await asyncio.gather(read_task, return_exceptions=True)


def hub_log_problems(path: Path | None, top: int = 6) -> dict[str, int]:
    """The hub's WARNING/ERROR log lines, counted by message."""
    counts: dict[str, int] = {}
    if path is None or not path.exists():
        return counts
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            key = f"{record['level']} {record.get('msg', '')}"[:100]
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:top])


def raise_fd_limit(needed: int) -> dict[str, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        log(f"warning: file-descriptor limit {soft} is below the {needed} this run needs")
    return {"soft": soft, "hard": hard}


def total(values: Iterable[float | None]) -> float | None:
    """The sum over the hub nodes; None when one of them could not be read."""
    items = list(values)
    if any(v is None for v in items):
        return None
    return sum(v for v in items if v is not None)


def self_cpu() -> float:
    times = os.times()
    return times.user + times.system


def stats(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": rounded(percentile(values, 50), 1),
        "p95": rounded(percentile(values, 95), 1),
        "p99": rounded(percentile(values, 99), 1),
        "max": rounded(max(values), 1) if values else None,
    }


async def storm(k: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = {
        "STREAMHUB_SIGNALING__JOINS_PER_MINUTE": "1000000",
        "STREAMHUB_RECORDER__ENABLED": "false",
        # Every simulated classroom comes from 127.0.0.1, and their members never negotiate
        # media: neither the per-address cap nor the media deadline applies to this storm.
        "STREAMHUB_HTTP__MAX_CONNECTIONS_PER_ADDRESS": str(10 * k + 100),
        "STREAMHUB_SIGNALING__PEER_TIMEOUT_S": "3600",
        # The storm's chat echo measures fan-out latency, not the chat limits.
        "STREAMHUB_SIGNALING__CHAT_PER_SECOND": "1000",
        "STREAMHUB_SIGNALING__CHAT_BURST": "1000",
        "STREAMHUB_SIGNALING__LESSON_CHAT_PER_SECOND": "100000",
        "STREAMHUB_SIGNALING__LESSON_CHAT_BURST": "100000",
    }
    if args.redis:
        env["STREAMHUB_REDIS_URL"] = args.redis
    per_lesson = args.per_lesson or k
    lessons = -(-k // per_lesson)
    result: dict[str, Any] = {
        "participants": k,
        "lessons": lessons,
        "per_lesson": per_lesson,
        "nodes": args.nodes,
    }
    with running_nodes(work / f"hub-{k}", env, args.nodes) as hubs:
        pids = [hub.proc.pid for hub in hubs if hub.proc is not None]
        urls = [signaling_url(hub.url) for hub in hubs]
        hub = hubs[0]
        api = AdminApi(hub.url)
        try:
            setup0 = time.monotonic()
            # One real classroom token per lesson; each participant gets a copy under its own
            # identity, with the row bindings the hub put in the original.
            templates, lesson_ids = [], []
            for n in range(lessons):
                setup = await api.lesson(classrooms=1, title=f"Storm {k} #{n}")
                real = await api.device_token(setup.credentials[0], setup.code)
                templates.append(jwt.decode(real, JWT_SECRET, algorithms=["HS256"]))
                lesson_ids.append(setup.lesson_id)

            def token(i: int, prefix: str = "bench") -> str:
                claims = dict(templates[i // per_lesson])
                claims.update(sub=f"{prefix}-classroom-{i}", name=f"Class {i}", jti=f"{i}")
                return jwt.encode(claims, JWT_SECRET, algorithm="HS256")

            people = [Participant(i, token(i)) for i in range(k)]
            result["setup_s"] = round(time.monotonic() - setup0, 2)
            # One warm-up join, so the hub's first-join allocations are not charged to K.
            warm = Participant(-1, token(0, "warmup"))
            warm_release = asyncio.Event()
            warm_release.set()
            await participant(warm, urls[0], asyncio.Semaphore(1), warm_release, args.compression)
            if warm.error is not None:
                raise RuntimeError(f"warm-up join failed: {warm.error}")
            await asyncio.sleep(1.0)
            rss0 = total(status_kb(pid, "VmRSS") for pid in pids)
            fds0 = total(open_fds(pid) for pid in pids)

            gate = asyncio.Semaphore(args.concurrency)
            release = asyncio.Event()
            hub_cpu0, bench_cpu0 = total(cpu_seconds(pid) for pid in pids), self_cpu()
            t0 = time.monotonic()
            log(f"[K={k}] storm: {lessons} lesson(s), concurrency {args.concurrency}")
            tasks = [
                # Each participant connects to a node in turn; a node that does not hold its
                # lesson redirects it.
                asyncio.create_task(
                    participant(p, urls[p.index % len(urls)], gate, release, args.compression)
                )
                for p in people
            ]

            async def all_done() -> None:
                for p in people:
                    await p.echoed.wait()

            try:
                await asyncio.wait_for(all_done(), PARTICIPANT_TIMEOUT_S)
            except TimeoutError:
                for p in people:
                    if not p.echoed.is_set():
                        _fail(p, "timeout")
            t1 = time.monotonic()
            hub_cpu1, bench_cpu1 = total(cpu_seconds(pid) for pid in pids), self_cpu()

            # Everyone still here is connected and idle: let broadcasts drain, then measure.
            await asyncio.sleep(IDLE_SETTLE_S)
            connected = sum(1 for p in people if p.error is None)
            rss1 = total(status_kb(pid, "VmRSS") for pid in pids)
            fds1 = total(open_fds(pid) for pid in pids)
            idle_cpu0, idle_t0 = total(cpu_seconds(pid) for pid in pids), time.monotonic()
            await asyncio.sleep(IDLE_WINDOW_S)
            idle_cpu1, idle_t1 = total(cpu_seconds(pid) for pid in pids), time.monotonic()
            still = sum(1 for p in people if p.error is None)

            leave0 = time.monotonic()
            release.set()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 120)
            leave_s = time.monotonic() - leave0
            await asyncio.sleep(2.0)
            rss2 = total(status_kb(pid, "VmRSS") for pid in pids)
            # Members the hub still lists once every client has left (should be none).
            ghosts = 0
            for lesson_id in lesson_ids:
                response = await api.http.get(f"/api/lessons/{lesson_id}/participants")
                if response.status_code == 200:
                    ghosts += len(response.json())
        finally:
            await api.close()
            log_problems: dict[str, int] = {}
            for node in hubs:
                for key, count in hub_log_problems(node.log_path).items():
                    log_problems[key] = log_problems.get(key, 0) + count

    ok = [p for p in people if p.joined_at is not None and p.pid is not None]
    first = min((p.started for p in people if p.started is not None), default=t0)
    last = max((p.joined_at for p in ok), default=t1)
    joins = [ms for p in ok if (ms := p.join_ms) is not None]
    acks = [(p.acked_at - p.chat_sent) * 1000 for p in ok if p.acked_at and p.chat_sent]
    echoes = [(p.echoed_at - p.chat_sent) * 1000 for p in ok if p.echoed_at and p.chat_sent]
    failures: dict[str, int] = {}
    for p in people:
        if p.error is not None:
            reason = re.sub(r"\d{3,}", "N", p.error)[:100]
            failures[reason] = failures.get(reason, 0) + 1
    span = last - first
    result.update(
        {
            "joined": len(ok),
            "completed": sum(1 for p in people if p.error is None),
            "failures": failures,
            "redirected": sum(1 for p in people if p.redirects),
            "joins_per_s": rounded(len(ok) / span if span > 0 else None, 1),
            "storm_s": round(t1 - t0, 2),
            "join_latency_ms": stats(joins),
            "chat_ack_ms": stats(acks),
            "chat_echo_ms": stats(echoes),
            "connected_idle": connected,
            "connected_after_idle_window": still,
            "hub_rss_before_mb": rounded(rss0 / 1024 if rss0 else None, 1),
            "hub_rss_connected_mb": rounded(rss1 / 1024 if rss1 else None, 1),
            "hub_rss_after_leave_mb": rounded(rss2 / 1024 if rss2 else None, 1),
            "memory_per_connection_kb": rounded(
                (rss1 - rss0) / connected if rss0 and rss1 and connected else None, 1
            ),
            "hub_fds_before": fds0,
            "hub_fds_connected": fds1,
            "idle_cpu_fraction": rounded(
                (idle_cpu1 - idle_cpu0) / (idle_t1 - idle_t0)
                if idle_cpu0 is not None and idle_cpu1 is not None
                else None,
                3,
            ),
            "hub_cpu_s": rounded(
                hub_cpu1 - hub_cpu0 if hub_cpu0 is not None and hub_cpu1 is not None else None, 2
            ),
            "bench_cpu_s": round(bench_cpu1 - bench_cpu0, 2),
            "leave_s": round(leave_s, 2),
            "participants_listed_after_leave": ghosts,
            "hub_log_problems": log_problems,
            "messages_received": sum(p.messages for p in people),
            "bytes_received": sum(p.bytes for p in people),
            "load_average": round(load_average(), 2),
        }
    )
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    ks = [args.participants] if args.participants else list(DEFAULT_KS)
    limits = raise_fd_limit(2 * max(ks) + 200)
    out: dict[str, Any] = {
        "bench": "signaling",
        "concurrency": args.concurrency,
        "compression": args.compression,
        "cpus": os.cpu_count(),
        "fd_limit": limits,
    }
    if args.redis:
        out["redis"] = {"url": args.redis, "nodes": args.nodes}
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-signaling-") as tmp:
        for k in ks:
            result = await storm(k, args, Path(tmp))
            log(f"[K={k}] {json.dumps(result)}")
            results.append(result)
    out["results"] = results
    top = results[-1]
    for key in ("participants", "joins_per_s", "join_latency_ms", "memory_per_connection_kb"):
        out[key] = top[key]
    by_k = {r["participants"]: r for r in results}
    if 500 in by_k:
        r = by_k[500]
        p99 = r["join_latency_ms"]["p99"]
        out["goal_k500"] = {
            "joins_per_s_min": 200,
            "p99_ms_max": 1000,
            "ok": bool(
                r["joins_per_s"] is not None
                and r["joins_per_s"] >= 200
                and p99 is not None
                and p99 <= 1000
                and not r["failures"]
            ),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, help="K (default: 100, 500 and 2000)")
    parser.add_argument("--concurrency", type=int, default=200, help="joins in flight at once")
    parser.add_argument(
        "--per-lesson", type=int, default=0, help="participants per lesson (0: all in one)"
    )
    parser.add_argument("--redis", help="Redis URL passed to the hub as STREAMHUB_REDIS_URL")
    parser.add_argument(
        "--nodes",
        type=int,
        default=0,
        help="hub processes on the one Redis (default: 2 with --redis, else 1)",
    )
    parser.add_argument(
        "--no-compression",
        dest="compression",
        action="store_false",
        help="do not offer permessage-deflate (browsers offer it)",
    )
    args = parser.parse_args()
    if args.nodes <= 0:
        args.nodes = 2 if args.redis else 1
    elif args.nodes > 1 and not args.redis:
        parser.error("--nodes above 1 needs --redis: the nodes share their live state there")
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
