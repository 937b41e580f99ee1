"""Fan-out benchmark: one lecturer to N classrooms, StreamHub's forwarding hub vs a naive relay.

One synthetic publisher (640x480 at 30 fps VP8 PatternVideoTrack plus an Opus tone) and N aiortc
subscribers on loopback, for each N:

- cpu_per_wall: CPU seconds per wall second of the hub process (utime+stime from /proc over the
  measuring window, summed over the hub's process session);
- min_fps: encoded video frames per second received by the slowest subscriber;
- join_to_first_frame_ms: from the start of a subscriber's connect to its first video frame
  (subscribers join one after another while the lecture is running);
- us_per_packet: hub CPU microseconds per datagram it handled (received + sent, counted by the
  hub's /metrics ``streamhub_media_packets``; StreamHub only);
- added_delay_ms: one probe subscriber decodes and reads the publisher's frame counter; its
  end-to-end delay (receive wall time minus the publisher's sent_at[counter], i.e. capture to
  receive, including encode, jitter buffer and event-loop time) minus the median of the same
  measured over a direct aiortc peer pair (no hub) in this process. median = median(through hub)
  - median(direct); p95 = p95(through hub) - median(direct).

Designs: "forward" is StreamHub (`python -m streamhub serve` subprocess, LessonClient peers);
"relay_reencode" is bench/relay_hub.py (aiortc MediaRelay, one encoder per subscriber) in a
subprocess with plain RTCPeerConnection peers. The hub/relay runs in its own process. The
publisher and the probe run in this one; for the forward design the counting subscribers are
spread over --workers helper processes (bench/fanout_worker.py), because one Python process
receiving 16 or more streams saturates a core and would be what is measured. StreamHub's
encoded-frame tap is installed in every one of them (receivers yield packets, so subscribers
count frames without decoding). bench_process_cpu_per_wall is this process plus its workers.
With --light, the workers' subscribers decrypt every packet but count frames from its RTP header
(bench/rtp_tally.py; lost_video_packets counts what never came): at 200 subscribers aiortc's
receive path in the load generator would take more CPU than the hub it measures.

    python bench/fanout.py --subscribers 1,2,4,8,16,32 --seconds 10 [--workers 2]
    python bench/fanout.py --subscribers 200 --relay-max 0 --light

Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av
import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from bench.common import (
    ROOT,
    load_average,
    log,
    loopback_configuration,
    machine_busy_seconds,
    offer_answer,
    percentile,
    rounded,
    session_cpu_split,
    slope,
    stop_session,
    wait_for_port,
)
from bench.hubproc import JsonWorkers, hub_gauge, hub_packets
from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.client.events import Closed, ConnectionStateChanged
from streamhub.client.synthetic import (
    PatternVideoTrack,
    ToneAudioTrack,
    read_counter,
)
from streamhub.media import aiortc_hooks
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, HubProcess
from tests.support.net import free_port

WIDTH, HEIGHT, FPS = 640, 480, 30
WARMUP_S = 2.0
FIRST_FRAME_TIMEOUT_S = 15.0
RELAY_SATURATED_FPS = 10.0  # stop growing N for the relay once its slowest subscriber is below


# ------------------------------------------------------------------ receiving side


class Probe:
    """Decodes one subscriber's video and turns the stamped counter into end-to-end delays."""

    def __init__(self, source: PatternVideoTrack, executor: Executor) -> None:
        self.source = source
        self.executor = executor
        self.decoder = FrameDecoder("VP8")
        self.queue: asyncio.Queue[tuple[float, av.Packet]] = asyncio.Queue()
        self.samples: list[tuple[float, float]] = []  # (receive wall time, delay ms)
        self.unreadable = 0

    def _counters(self, packet: av.Packet) -> list[int]:
        return [read_counter(frame) for frame in self.decoder.decode(packet)]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            received, packet = await self.queue.get()
            for counter in await loop.run_in_executor(self.executor, self._counters, packet):
                sent = self.source.sent_at.get(counter)
                if sent is None or not 0 <= received - sent < 10:
                    self.unreadable += 1
                    continue
                self.samples.append((received, (received - sent) * 1000))

    def delays(self, start: float, end: float) -> list[float]:
        return [ms for at, ms in self.samples if start <= at <= end]


@dataclass
class Subscriber:
    video: MediaStreamTrack
    audio: MediaStreamTrack | None
    started: float
    probe: Probe | None = None
    first: float | None = None
    frames: int = 0
    got_first: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.create_task(self._video()))
        if self.audio is not None:
            self.tasks.append(loop.create_task(self._drain(self.audio)))
        if self.probe is not None:
            self.tasks.append(loop.create_task(self.probe.run()))

    async def _video(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                packet = await self.video.recv()
                wall = time.time()
                if self.first is None:
                    self.first = time.monotonic()
                    self.got_first.set()
                self.frames += 1
                if self.probe is not None:
                    self.probe.queue.put_nowait((wall, packet))

    @staticmethod
    async def _drain(track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    async def wait_first(self) -> float | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.got_first.wait(), FIRST_FRAME_TIMEOUT_S)
        return None if self.first is None else (self.first - self.started) * 1000

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class WorkerPool(JsonWorkers):
    """bench/fanout_worker.py processes holding the counting subscribers of the forward design
    (all but the probe), taken in turn."""

    def __init__(self, count: int, light: bool = False) -> None:
        super().__init__("fanout_worker.py", count, ("--light",) if light else ())
        self.light = light

    async def join(self, index: int, url: str, token: str) -> RemoteSubscriber:
        started = time.monotonic()
        request = {"join": index, "url": url, "token": token}
        answer = await self.ask(index % self.count, request, FIRST_FRAME_TIMEOUT_S + 30)
        if answer.get("error"):
            log(f"  classroom-{index}: {answer['error']}")
        return RemoteSubscriber(index, started, answer.get("first_ms"))

    async def counts(self) -> dict[int, int]:
        answers = await self.ask_all({"counts": True}, FIRST_FRAME_TIMEOUT_S + 30)
        return {int(i): n for answer in answers for i, n in answer["counts"].items()}

    async def lost(self) -> int | None:
        """Video packets the light subscribers never got (None: not light)."""
        if not self.light:
            return None
        return sum(a["lost"] for a in await self.ask_all({"lost": True}, 30))


@dataclass
class RemoteSubscriber:
    """A subscriber held by a worker process; its frames are counted there."""

    index: int
    started: float
    first_ms: float | None
    probe: Probe | None = None
    frames: int = 0

    def start(self) -> None:
        pass

    async def wait_first(self) -> float | None:
        return self.first_ms

    async def stop(self) -> None:
        pass


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Window:
    server_cpu_per_wall: float
    server_system_per_wall: float  # the kernel's part of it (loopback delivery included)
    bench_cpu_per_wall: float
    other_cpu_per_wall: float  # every other process on the machine (a shared box skews results)
    load_average: float
    fps: list[float]
    delays: list[float]
    unreadable: int
    packets_per_s: tuple[float, float] | None = None  # hub datagrams (in, out) per second


async def measure(
    subscribers: list[Subscriber | RemoteSubscriber],
    probe: Probe,
    server_sid: int,
    seconds: float,
    workers: WorkerPool | None = None,
    packets: Callable[[], Awaitable[tuple[float, float]]] | None = None,
) -> Window:
    async def frames() -> list[int]:
        remote = await workers.counts() if workers is not None else {}
        return [
            remote.get(s.index, 0) if isinstance(s, RemoteSubscriber) else s.frames
            for s in subscribers
        ]

    def load_generator_cpu() -> float:
        return self_cpu_seconds() + (workers.cpu_seconds() if workers is not None else 0.0)

    await asyncio.sleep(WARMUP_S)
    (user0, sys0), self0 = session_cpu_split(server_sid), load_generator_cpu()
    cpu0 = user0 + sys0
    busy0 = machine_busy_seconds()
    frames0 = await frames()
    packets0 = await packets() if packets is not None else None
    t0, wall0 = time.monotonic(), time.time()
    unreadable0 = probe.unreadable
    await asyncio.sleep(seconds)
    (user1, sys1), self1 = session_cpu_split(server_sid), load_generator_cpu()
    cpu1 = user1 + sys1
    busy1 = machine_busy_seconds()
    frames1 = await frames()
    packets1 = await packets() if packets is not None else None
    t1, wall1 = time.monotonic(), time.time()
    # Let the probe decode what arrived inside the window.
    await asyncio.sleep(0.3)
    elapsed = t1 - t0
    return Window(
        server_cpu_per_wall=(cpu1 - cpu0) / elapsed,
        server_system_per_wall=(sys1 - sys0) / elapsed,
        bench_cpu_per_wall=(self1 - self0) / elapsed,
        other_cpu_per_wall=max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - (self1 - self0)) / elapsed,
        load_average=load_average(),
        fps=[(b - a) / elapsed for a, b in zip(frames0, frames1, strict=True)],
        delays=probe.delays(wall0, wall1),
        unreadable=probe.unreadable - unreadable0,
        packets_per_s=(
            ((packets1[0] - packets0[0]) / elapsed, (packets1[1] - packets0[1]) / elapsed)
            if packets0 is not None and packets1 is not None
            else None
        ),
    )


# ------------------------------------------------------------------ designs


def start_relay(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """bench/relay_hub.py in its own session (so the whole group can be stopped)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "relay_hub.py"), "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port("127.0.0.1", port, proc, 30.0)
    except BaseException:
        stop_session(proc)
        raise
    return proc


@dataclass
class Run:
    design: str
    subscribers: int
    window: Window
    joins_ms: list[float | None]
    server_errors: int | None = None  # ERROR lines in the server's log during the run
    shed: float | None = None  # classrooms the hub's overload guard turned audio-only
    lost_video_packets: int | None = None  # light subscribers only (--light)


def count_errors(log_path: Path | None) -> int | None:
    if log_path is None or not log_path.exists():
        return None
    text = log_path.read_text(errors="replace")
    return text.count('"level": "ERROR"') + text.count("ERROR:")


Joiner = Callable[[int, PatternVideoTrack, Executor], Awaitable[Subscriber | RemoteSubscriber]]


async def join_all(
    n: int, video: PatternVideoTrack, executor: Executor, join: Joiner
) -> tuple[list[Subscriber | RemoteSubscriber], list[float | None]]:
    """Subscribers join one after another; each waits for its first frame before the next."""
    subscribers: list[Subscriber | RemoteSubscriber] = []
    joins: list[float | None] = []
    for index in range(n):
        subscriber = await join(index, video, executor)
        subscribers.append(subscriber)
        subscriber.start()
        joins.append(await subscriber.wait_first())
    return subscribers, joins


async def watch(client: LessonClient, label: str) -> None:
    """Log a client's connection changes and its signaling close (diagnostics, to stderr)."""
    async for event in client.events():
        if isinstance(event, ConnectionStateChanged | Closed):
            log(f"  {label}: {event}")


async def run_forward(
    n: int,
    seconds: float,
    workdir: Path,
    executor: Executor,
    hub_log_level: str = "WARNING",
    worker_count: int = 0,
    light: bool = False,
) -> Run:
    hub = HubProcess(
        workdir / f"forward-{n}",
        extra_env={
            "STREAMHUB_SIGNALING__JOINS_PER_MINUTE": "100000",
            "STREAMHUB_RECORDER__ENABLED": "false",
            "STREAMHUB_LOG_LEVEL": hub_log_level,
            # The bench measures the hub's own limits: no configured cap in the way.
            "STREAMHUB_CAPACITY__MAX_CLASSROOMS_PER_NODE": "0",
            # Every simulated classroom comes from 127.0.0.1: no per-address cap either.
            "STREAMHUB_HTTP__MAX_CONNECTIONS_PER_ADDRESS": "100000",
        },
    )
    clients: list[LessonClient] = []
    subscribers: list[Subscriber | RemoteSubscriber] = []
    admin: AdminApi | None = None
    run: Run | None = None
    watcher: asyncio.Task[None] | None = None
    workers = WorkerPool(worker_count, light) if worker_count and n > 1 else None
    try:
        if workers is not None:
            await workers.start()
        await asyncio.to_thread(hub.start)
        assert hub.proc is not None
        admin = AdminApi(hub.url)
        lesson = await admin.lesson(classrooms=n, title=f"Fan-out {n}")
        tokens = [await admin.device_token(credential) for credential in lesson.credentials]
        video = PatternVideoTrack(WIDTH, HEIGHT, FPS)
        lecturer = LessonClient(hub.url, lesson.lecturer_token, name="lecturer")
        clients.append(lecturer)
        await lecturer.connect({Slot.CAMERA: video, Slot.MICROPHONE: ToneAudioTrack()})
        watcher = asyncio.get_running_loop().create_task(watch(lecturer, "lecturer"))

        async def join(
            index: int, video: PatternVideoTrack, pool: Executor
        ) -> Subscriber | RemoteSubscriber:
            if workers is not None and index > 0:
                return await workers.join(index, hub.url, tokens[index])
            started = time.monotonic()
            client = LessonClient(hub.url, tokens[index], name=f"classroom-{index}")
            clients.append(client)
            await client.connect({})
            return Subscriber(
                client.tracks[Slot.LECTURER_VIDEO],
                client.tracks.get(Slot.LECTURER_AUDIO),
                started,
                probe=Probe(video, pool) if index == 0 else None,
            )

        subscribers, joins = await join_all(n, video, executor, join)
        probe = subscribers[0].probe
        assert probe is not None
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            window = await measure(
                subscribers, probe, hub.proc.pid, seconds, workers, lambda: hub_packets(http)
            )
            shed = await hub_gauge(http, "streamhub_classrooms_shed")
        lost = await workers.lost() if workers is not None else None
        run = Run("forward", n, window, joins, shed=shed, lost_video_packets=lost)
        return run
    finally:
        await asyncio.gather(*(s.stop() for s in subscribers), return_exceptions=True)
        if workers is not None:
            await workers.stop()
        await asyncio.gather(*(c.close() for c in reversed(clients)), return_exceptions=True)
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        if admin is not None:
            await admin.close()
        await asyncio.to_thread(stop_session, hub.proc)
        if run is not None:
            run.server_errors = count_errors(hub.log_path)


async def run_relay(n: int, seconds: float, workdir: Path, executor: Executor) -> Run:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/"
    proc: subprocess.Popen[bytes] | None = None
    pcs: list[RTCPeerConnection] = []
    subscribers: list[Subscriber | RemoteSubscriber] = []
    run: Run | None = None
    log_path = workdir / f"relay-{n}.log"
    try:
        proc = await asyncio.to_thread(start_relay, port, log_path)
        video = PatternVideoTrack(WIDTH, HEIGHT, FPS)
        publisher = RTCPeerConnection(loopback_configuration())
        pcs.append(publisher)
        publisher.addTrack(video)
        publisher.addTrack(ToneAudioTrack())
        await offer_answer(publisher, url, "publisher")

        async def join(
            index: int, video: PatternVideoTrack, pool: Executor
        ) -> Subscriber | RemoteSubscriber:
            started = time.monotonic()
            pc = RTCPeerConnection(loopback_configuration())
            pcs.append(pc)
            video_rx = pc.addTransceiver("video", direction="recvonly")
            audio_rx = pc.addTransceiver("audio", direction="recvonly")
            await offer_answer(pc, url, "subscriber")
            return Subscriber(
                video_rx.receiver.track,
                audio_rx.receiver.track,
                started,
                probe=Probe(video, pool) if index == 0 else None,
            )

        subscribers, joins = await join_all(n, video, executor, join)
        probe = subscribers[0].probe
        assert probe is not None
        window = await measure(subscribers, probe, proc.pid, seconds)
        run = Run("relay_reencode", n, window, joins)
        return run
    finally:
        await asyncio.gather(*(s.stop() for s in subscribers), return_exceptions=True)
        await asyncio.gather(*(pc.close() for pc in reversed(pcs)), return_exceptions=True)
        await asyncio.to_thread(stop_session, proc)
        if run is not None:
            run.server_errors = count_errors(log_path)


async def run_direct(seconds: float, executor: Executor) -> list[float]:
    """The same publisher → probe pipeline over one aiortc peer pair, no hub in between."""
    video = PatternVideoTrack(WIDTH, HEIGHT, FPS)
    sender = RTCPeerConnection(loopback_configuration())
    receiver = RTCPeerConnection(loopback_configuration())
    subscriber: Subscriber | None = None
    try:
        sender.addTrack(video)
        sender.addTrack(ToneAudioTrack())
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        answer = receiver.localDescription
        await sender.setRemoteDescription(RTCSessionDescription(answer.sdp, answer.type))
        tracks = {t.kind: t.receiver.track for t in receiver.getTransceivers()}
        probe = Probe(video, executor)
        subscriber = Subscriber(tracks["video"], tracks.get("audio"), time.monotonic(), probe)
        subscriber.start()
        if await subscriber.wait_first() is None:
            raise RuntimeError("direct pair: no video")
        window = await measure([subscriber], probe, os.getsid(0), seconds)
        return window.delays
    finally:
        if subscriber is not None:
            await subscriber.stop()
        await receiver.close()
        await sender.close()


# ------------------------------------------------------------------ report


def summarize(run: Run, direct_median: float | None) -> dict[str, Any]:
    window = run.window
    delays = window.delays
    median = statistics.median(delays) if delays else None
    p95 = percentile(delays, 95)
    joined = [ms for ms in run.joins_ms if ms is not None]
    added_median = None if median is None or direct_median is None else median - direct_median
    added_p95 = None if p95 is None or direct_median is None else p95 - direct_median
    return {
        "design": run.design,
        "subscribers": run.subscribers,
        "cpu_per_wall": rounded(window.server_cpu_per_wall),
        "min_fps": rounded(min(window.fps), 2),
        "join_to_first_frame_ms": {
            "median": rounded(statistics.median(joined), 1) if joined else None,
            "max": rounded(max(joined), 1) if joined else None,
            "no_frame": len(run.joins_ms) - len(joined),
        },
        "added_delay_ms": {"median": rounded(added_median, 1), "p95": rounded(added_p95, 1)},
        "end_to_end_delay_ms": {
            "median": rounded(median, 1),
            "p95": rounded(p95, 1),
            "samples": len(delays),
            "unreadable": window.unreadable,
        },
        "median_fps": rounded(statistics.median(window.fps), 2),
        # Hub CPU per datagram it handled (received + sent; StreamHub only, from /metrics).
        "hub_packets_per_s": (
            {"in": rounded(window.packets_per_s[0], 1), "out": rounded(window.packets_per_s[1], 1)}
            if window.packets_per_s is not None
            else None
        ),
        "us_per_packet": (
            rounded(window.server_cpu_per_wall / sum(window.packets_per_s) * 1e6, 1)
            if window.packets_per_s is not None and sum(window.packets_per_s) > 0
            else None
        ),
        # Of which the kernel's (system time: sendto, and on loopback the receivers' delivery).
        "us_per_packet_system": (
            rounded(window.server_system_per_wall / sum(window.packets_per_s) * 1e6, 1)
            if window.packets_per_s is not None and sum(window.packets_per_s) > 0
            else None
        ),
        "subscribers_receiving": sum(1 for fps in window.fps if fps > 0),
        "lost_video_packets": run.lost_video_packets,
        # The load generator: this process and its worker processes.
        "bench_process_cpu_per_wall": rounded(window.bench_cpu_per_wall),
        "server_errors_logged": run.server_errors,
        "classrooms_shed_by_overload": run.shed,
        "other_processes_cpu_per_wall": rounded(window.other_cpu_per_wall),
        "load_average_1m": rounded(window.load_average, 2),
    }


# A server that no longer delivers the stream is not spending CPU per subscriber: fit the slope on
# the points where the slowest subscriber still got 90 % of the frames.
FIT_MIN_FPS = 0.9 * FPS


def design_slope(results: list[dict[str, Any]], design: str) -> tuple[float | None, list[int]]:
    points = [
        (r["subscribers"], r["cpu_per_wall"])
        for r in results
        if r["design"] == design and r["cpu_per_wall"] is not None and r["min_fps"] >= FIT_MIN_FPS
    ]
    return slope([p[0] for p in points], [p[1] for p in points]), [p[0] for p in points]


async def bounded(coro: Awaitable[Run], label: str, timeout: float) -> Run | None:
    try:
        return await asyncio.wait_for(coro, timeout)
    except Exception as exc:
        log(f"{label}: failed: {type(exc).__name__}: {exc}")
        return None


async def main(args: argparse.Namespace) -> dict[str, Any]:
    aiortc_hooks.install(["127.0.0.1"])  # loopback candidates and the encoded-frame tap
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe-decode")
    results: list[dict[str, Any]] = []
    try:
        with contextlib.ExitStack() as stack:
            if args.workdir is None:
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fanout-")))
            else:
                workdir = args.workdir
            log(f"direct peer pair baseline, {args.seconds:g} s")
            direct = await run_direct(args.seconds, executor)
            direct_median = statistics.median(direct) if direct else None
            direct_p95 = percentile(direct, 95)
            log(f"  direct end-to-end delay: median {direct_median} ms, p95 {direct_p95} ms")

            plan: list[tuple[str, int]] = [("forward", n) for n in args.subscribers]
            plan += [("relay_reencode", n) for n in args.subscribers if n <= args.relay_max]
            relay_saturated = False
            for design, n in plan:
                if design == "relay_reencode" and relay_saturated:
                    log(f"{design} N={n}: skipped (relay saturated at a smaller N)")
                    continue
                log(f"{design} N={n}: joining, then {WARMUP_S:g} s warm-up + {args.seconds:g} s")
                coro = (
                    run_forward(
                        n,
                        args.seconds,
                        workdir,
                        executor,
                        args.hub_log_level,
                        args.workers,
                        args.light,
                    )
                    if design == "forward"
                    else run_relay(n, args.seconds, workdir, executor)
                )
                run = await bounded(coro, f"{design} N={n}", 60 + n * 4 + args.seconds)
                if run is None:
                    if design == "relay_reencode":
                        relay_saturated = True
                    continue
                summary = summarize(run, direct_median)
                results.append(summary)
                log(f"  {json.dumps(summary)}")
                if design == "relay_reencode" and summary["min_fps"] < RELAY_SATURATED_FPS:
                    relay_saturated = True
    finally:
        executor.shutdown(wait=False, cancel_futures=True)

    forward_slope, forward_fit = design_slope(results, "forward")
    relay_slope, relay_fit = design_slope(results, "relay_reencode")
    ratio = (
        forward_slope / relay_slope
        if forward_slope is not None and relay_slope is not None and relay_slope > 0
        else None
    )
    return {
        "results": results,
        "cpu_per_added_subscriber_ratio": rounded(ratio, 4),
        "cpu_slope_per_subscriber": {
            "forward": rounded(forward_slope, 4),
            "relay_reencode": rounded(relay_slope, 4),
            "fitted_on_subscribers": {"forward": forward_fit, "relay_reencode": relay_fit},
            "fit_min_fps": FIT_MIN_FPS,
        },
        "direct_path_delay_ms": {
            "median": rounded(direct_median, 1),
            "p95": rounded(direct_p95, 1),
            "samples": len(direct),
        },
        "machine": {"cpus": os.cpu_count(), "seconds": args.seconds, "warmup_s": WARMUP_S},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--subscribers",
        type=lambda text: sorted({int(n) for n in text.split(",") if n.strip()}),
        default=[1, 2, 4, 8, 16, 32],
        help="comma-separated subscriber counts (default 1,2,4,8,16,32)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window per N")
    parser.add_argument(
        "--relay-max",
        type=int,
        default=8,
        help="largest N for the re-encoding relay baseline (default 8: it saturates 2 cores)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the hub data and server logs here (default: a temporary directory)",
    )
    parser.add_argument(
        "--hub-log-level", default="WARNING", help="the StreamHub subprocess's log level"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="processes holding the forward design's counting subscribers (0: all in this one)",
    )
    parser.add_argument(
        "--light",
        action="store_true",
        help="workers' subscribers decrypt every packet but count frames from the RTP header "
        "(bench/rtp_tally.py) instead of aiortc's receive path: for a few hundred subscribers",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    report = asyncio.run(main(parse_args()))
    print(json.dumps(report))
