"""Whole-lesson benchmark: N classrooms that publish and receive, a lecturer, the recorder.

For each N, a fresh hub (`python -m streamhub serve`, recorder on) and one lesson:

- the lecturer (this process) publishes a 640x480@30 VP8 clip (~500 kbit/s) and an Opus tone,
  and receives up to 16 classroom tiles;
- N classrooms, spread over --load-workers processes (bench/lesson_worker.py), each publish a
  camera clip (default 640x360@15, ~400 kbit/s) and an Opus tone and receive the lecturer.

No one encodes per classroom: every clip is encoded once per load-generator process and looped
as packets (streamhub.client.clip); a key-frame request restarts a clip at its key frame, as a
camera's encoder would answer it. The classrooms send them through the hub's own send path
(bench/clip_send.py), not aiortc's senders, which took 1.1 cores at 60 classrooms and starved
the hub it measures on a 2-core box (--aiortc-senders: aiortc's, as before). Classrooms join
one after another while the lesson runs.

Reported per N (the last line of stdout is one JSON object, progress goes to stderr):

- hub_cpu_per_wall: CPU seconds per wall second of the hub, in all and per hub process;
- classroom_lecturer_fps: the lecturer's video frames per second at the slowest classroom
  (and the median), and lecturer audio packets per second at the slowest;
- lecturer_tile_fps: the slowest (and median) of the tiles the lecturer is shown;
- hub_packets_per_s: datagrams the hub received (in) and sent (out), from its /metrics;
- us_per_packet: hub CPU microseconds per datagram handled (in + out);
- join_to_first_frame_ms: classroom connect start to its first lecturer frame;
- load_generator_cpu_per_wall: this process plus the load-generator processes;
- us_per_packet_received (--receive-only): the lecturer stays away, so the hub only receives
  the classrooms' cameras and microphones (and sends them nothing but RTCP): hub CPU
  microseconds per datagram received; with --silent-classrooms too, the classrooms publish
  nothing: what holding their connections costs the hub, to subtract from a --receive-only run
  (the marginal cost of a received packet);
- lecturer_lost / classrooms_closed: participants the hub closed during the run;
  classrooms_shed_by_overload / hub_event_loop_lag_ms: the overload guard at the end;
  classrooms_refused: joins the hub refused (lesson_full/node_full), left out of the figures.

    python bench/lesson.py --classrooms 8,24,48 --seconds 10 [--load-workers 2]
    python bench/lesson.py --classrooms 32 --lessons 2 --hub-workers 2   # both cores
    python bench/lesson.py --classrooms 60 --receive-only                # the receive path alone
    python bench/lesson.py --classrooms 60 --receive-only --silent-classrooms   # its baseline
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import (
    load_average,
    log,
    machine_busy_seconds,
    percentile,
    rounded,
    stop_session,
)
from bench.hubproc import JsonWorkers, cpu_seconds, hub_gauge, hub_packets
from bench.lesson_worker import Counter
from streamhub.client import LessonClient
from streamhub.client.clip import ClipTrack, encode_audio_clip, encode_video_clip
from streamhub.media import aiortc_hooks
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, HubProcess
from tests.support.net import free_port

WARMUP_S = 3.0
JOIN_TIMEOUT_S = 30.0


def hub_pids(session_id: int) -> list[int]:
    """The live processes of the hub's session (the hub and any workers it started)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[3]) == session_id:
            pids.append(int(entry))
    return sorted(pids)


def process_name(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return " ".join(a.decode(errors="replace") for a in args if a)[-60:]


class LoadWorkers(JsonWorkers):
    """bench/lesson_worker.py processes; classroom i lives in worker i % count."""

    def __init__(self, count: int) -> None:
        super().__init__("lesson_worker.py", count)
        self.clip: dict[str, Any] = {}

    async def start_with(self, clip: dict[str, Any]) -> None:
        await self.start()
        answers = await self.ask_all({"clip": clip}, 120)
        self.clip = {k: v for k, v in answers[0].items() if k != "ready"}

    async def join(
        self, index: int, url: str, token: str, wait_first: bool, publish: bool
    ) -> dict[str, Any]:
        request = {
            "join": index,
            "url": url,
            "token": token,
            "wait_first": wait_first,
            "publish": publish,
        }
        return await self.ask(index % self.count, request, JOIN_TIMEOUT_S + 30)

    async def counts(self) -> dict[int, list[Any]]:
        answers = await self.ask_all({"counts": True}, 30)
        return {int(i): c for answer in answers for i, c in answer["counts"].items()}


@dataclass
class Lecturer:
    client: LessonClient
    tiles: dict[str, Counter] = field(default_factory=dict)

    def watch_tiles(self) -> None:
        for mid, track in list(self.client.tile_tracks.items()):
            if mid not in self.tiles and track.kind == "video":
                self.tiles[mid] = Counter(track)

    def tile_frames(self) -> dict[str, int]:
        """Frames per tile that shows a classroom now."""
        self.watch_tiles()
        shown = {mid for mid, pid in self.client.tiles.items() if pid is not None}
        return {mid: c.frames for mid, c in self.tiles.items() if mid in shown}

    async def close(self) -> None:
        for counter in self.tiles.values():
            await counter.stop()
        await self.client.close()


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def run_lesson(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = {
        "STREAMHUB_SIGNALING__JOINS_PER_MINUTE": "100000",
        "STREAMHUB_LOG_LEVEL": args.hub_log_level,
        "STREAMHUB_RECORDER__ENABLED": "true" if args.recorder else "false",
        # The bench measures the hub's own limits (--hub-env can set a cap to test it).
        "STREAMHUB_CAPACITY__MAX_CLASSROOMS_PER_NODE": "0",
        # Every simulated classroom comes from 127.0.0.1: no per-address cap either.
        "STREAMHUB_HTTP__MAX_CONNECTIONS_PER_ADDRESS": "100000",
    }
    worker_ports = [free_port() for _ in range(args.hub_workers)] if args.hub_workers > 1 else []
    if worker_ports:
        env["STREAMHUB_WORKER_PORTS"] = json.dumps(worker_ports)
    env.update(dict(kv.split("=", 1) for kv in args.hub_env))
    hub = HubProcess(workdir / f"lesson-{n}", extra_env=env, workers=args.hub_workers)
    total = n * args.lessons
    workers = LoadWorkers(max(1, min(args.load_workers, total)))
    admin: AdminApi | None = None
    lecturers: list[Lecturer] = []
    scrapers: list[httpx.AsyncClient] = []
    try:
        clip_spec = {
            "width": args.camera_width,
            "height": args.camera_height,
            "fps": args.camera_fps,
            "seconds": 4.0,
            "kbps": args.camera_kbps,
            "senders": "aiortc" if args.aiortc_senders else "leg",
        }
        await workers.start_with(clip_spec)
        await asyncio.to_thread(hub.start, 60)
        assert hub.proc is not None
        # With several hub workers, each counts its own packets (on its own port).
        urls = [f"http://127.0.0.1:{p}" for p in worker_ports] or [hub.url]
        scrapers = [httpx.AsyncClient(base_url=url, timeout=10) for url in urls]
        for scraper in scrapers:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await scraper.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        admin = AdminApi(hub.url)
        lessons = [
            await admin.lesson(classrooms=n, title=f"Lesson {n} #{k}") for k in range(args.lessons)
        ]
        tokens = [await admin.device_token(c) for lesson in lessons for c in lesson.credentials]

        video_clip = await asyncio.to_thread(encode_video_clip, 640, 480, 30, 4.0, 500)
        audio_clip = encode_audio_clip()
        for lesson in [] if args.receive_only else lessons:
            camera = ClipTrack(video_clip)
            client = LessonClient(hub.url, lesson.lecturer_token, name="lecturer")
            lecturers.append(Lecturer(client))
            await client.connect({Slot.CAMERA: camera, Slot.MICROPHONE: ClipTrack(audio_clip)})
            aiortc_hooks.on_keyframe_request(client.senders[Slot.CAMERA], camera.request_keyframe)

        log(
            f"N={n} x {args.lessons} lesson(s), {args.hub_workers} hub worker(s): "
            f"{total} classrooms joining over {workers.count} load workers"
        )
        join_started = time.monotonic()
        for index in range(total):
            answer = await workers.join(
                index, hub.url, tokens[index], not args.receive_only, not args.silent_classrooms
            )
            if answer.get("error"):
                log(f"  classroom-{index}: {answer['error']}")
            for lecturer in lecturers:
                lecturer.watch_tiles()
        join_seconds = time.monotonic() - join_started

        await asyncio.sleep(WARMUP_S)

        async def packets() -> tuple[float, float]:
            counted = [await hub_packets(scraper) for scraper in scrapers]
            return sum(c[0] for c in counted), sum(c[1] for c in counted)

        def tiles() -> dict[str, int]:
            return {
                f"{k}:{m}": f
                for k, lec in enumerate(lecturers)
                for m, f in lec.tile_frames().items()
            }

        sid = hub.proc.pid
        pids = hub_pids(sid)
        cpu0 = {pid: cpu_seconds(pid) or 0.0 for pid in pids}
        gen0 = self_cpu_seconds() + workers.cpu_seconds()
        busy0 = machine_busy_seconds()
        packets0 = await packets()
        counts0, tiles0 = await workers.counts(), tiles()
        t0 = time.monotonic()
        await asyncio.sleep(args.seconds)
        cpu1 = {pid: cpu_seconds(pid) or 0.0 for pid in pids}
        gen1 = self_cpu_seconds() + workers.cpu_seconds()
        busy1 = machine_busy_seconds()
        packets1 = await packets()
        counts1, tiles1 = await workers.counts(), tiles()
        elapsed = time.monotonic() - t0
        shed = sum([await hub_gauge(s, "streamhub_classrooms_shed") or 0 for s in scrapers])
        lag = max([await hub_gauge(s, "streamhub_event_loop_lag_seconds") or 0 for s in scrapers])

        hub_cpu = {pid: (cpu1[pid] - cpu0[pid]) / elapsed for pid in pids}
        total_cpu = sum(hub_cpu.values())
        packets_in = (packets1[0] - packets0[0]) / elapsed
        packets_out = (packets1[1] - packets0[1]) / elapsed
        admitted = [i for i in sorted(counts1) if not counts1[i][4]]
        video_fps = [(counts1[i][0] - counts0.get(i, [0, 0])[0]) / elapsed for i in admitted]
        audio_pps = [(counts1[i][1] - counts0.get(i, [0, 0])[1]) / elapsed for i in admitted]
        tile_fps = [(tiles1[m] - tiles0.get(m, 0)) / elapsed for m in tiles1]
        firsts = [counts1[i][2] for i in admitted if counts1[i][2] is not None]
        gen_cpu = (gen1 - gen0) / elapsed
        return {
            "classrooms": n,
            "lessons": args.lessons,
            "hub_workers": args.hub_workers,
            "hub_cpu_per_wall": rounded(total_cpu),
            "hub_processes": [
                {"pid": pid, "cmd": process_name(pid), "cpu_per_wall": rounded(c)}
                for pid, c in hub_cpu.items()
            ],
            "classroom_lecturer_fps": {
                "min": rounded(min(video_fps), 2) if video_fps else None,
                "median": rounded(statistics.median(video_fps), 2) if video_fps else None,
                "receiving": sum(1 for f in video_fps if f > 0),
            },
            "classroom_lecturer_audio_pps_min": rounded(min(audio_pps), 1) if audio_pps else None,
            "lecturer_tile_fps": {
                "min": rounded(min(tile_fps), 2) if tile_fps else None,
                "median": rounded(statistics.median(tile_fps), 2) if tile_fps else None,
                "tiles": len(tile_fps),
            },
            "hub_packets_per_s": {"in": rounded(packets_in, 1), "out": rounded(packets_out, 1)},
            "us_per_packet": rounded(total_cpu / (packets_in + packets_out) * 1e6, 1)
            if packets_in + packets_out > 0
            else None,
            "receive_only": args.receive_only,
            "classroom_senders": "aiortc" if args.aiortc_senders else "leg",
            "silent_classrooms": args.silent_classrooms,
            "us_per_packet_received": rounded(total_cpu / packets_in * 1e6, 1)
            if args.receive_only and packets_in > 0
            else None,
            "join_to_first_frame_ms": {
                "median": rounded(statistics.median(firsts), 1) if firsts else None,
                "p90": rounded(percentile(firsts, 90), 1),
                "max": rounded(max(firsts), 1) if firsts else None,
                "no_frame": len(admitted) - len(firsts),
            },
            "join_seconds": rounded(join_seconds, 1),
            "lecturer_lost": any(lec.client.closed is not None for lec in lecturers),
            "classrooms_refused": total - len(admitted),
            "classrooms_closed": sum(1 for i in admitted if counts1[i][3]),
            "classrooms_shed_by_overload": int(shed),
            "hub_event_loop_lag_ms": rounded(lag * 1000, 1),
            "load_generator_cpu_per_wall": rounded(gen_cpu),
            "other_cpu_per_wall": rounded(
                max(0.0, (busy1 - busy0) / elapsed - total_cpu - gen_cpu)
            ),
            "load_average_1m": rounded(load_average(), 2),
            "clips": {"classroom": workers.clip, "lecturer_kbps": rounded(video_clip.bitrate_kbps)},
        }
    finally:
        for lecturer in lecturers:
            await lecturer.close()
        await workers.stop()
        if admin is not None:
            await admin.close()
        for scraper in scrapers:
            await scraper.aclose()
        await asyncio.to_thread(stop_session, hub.proc)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    aiortc_hooks.install(["127.0.0.1"])
    results = []
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="lesson-"))
        )
        for n in args.classrooms:
            try:
                result = await asyncio.wait_for(
                    run_lesson(n, args, workdir),
                    120 + n * args.lessons * (JOIN_TIMEOUT_S / 3) + args.seconds,
                )
            except Exception as exc:
                log(f"N={n}: failed: {type(exc).__name__}: {exc}")
                continue
            log(f"  {json.dumps(result)}")
            results.append(result)
    return {
        "results": results,
        "machine": {"cpus": os.cpu_count(), "seconds": args.seconds, "warmup_s": WARMUP_S},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--classrooms",
        type=lambda text: [int(n) for n in text.split(",") if n.strip()],
        default=[8, 24],
        help="comma-separated classroom counts (default 8,24)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window per N")
    parser.add_argument("--load-workers", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--lessons", type=int, default=1, help="lessons at once, each with N classrooms"
    )
    parser.add_argument(
        "--hub-workers", type=int, default=1, help="hub processes (`serve --workers`)"
    )
    parser.add_argument("--camera-width", type=int, default=640)
    parser.add_argument("--camera-height", type=int, default=360)
    parser.add_argument("--camera-fps", type=int, default=15)
    parser.add_argument("--camera-kbps", type=int, default=400)
    parser.add_argument(
        "--no-recorder", dest="recorder", action="store_false", help="run without the recorder"
    )
    parser.add_argument(
        "--receive-only",
        action="store_true",
        help="no lecturer: the hub only receives the classrooms' media (us_per_packet_received)",
    )
    parser.add_argument(
        "--silent-classrooms",
        action="store_true",
        help="classrooms publish nothing (with --receive-only: the baseline of held connections)",
    )
    parser.add_argument(
        "--aiortc-senders",
        action="store_true",
        help="classrooms publish through aiortc's RTCRtpSender (heavier load generator)",
    )
    parser.add_argument("--hub-log-level", default="WARNING")
    parser.add_argument(
        "--hub-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra STREAMHUB_* setting for the hub (repeatable)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep hub data and logs here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    report = asyncio.run(main(parse_args()))
    print(json.dumps(report))
