"""Soak: one long lesson with 8 classrooms through a hub subprocess; memory, threads and frame
rate sampled throughout, to show they stay flat.

    python bench/soak.py [--minutes 30] [--classrooms 8] [--sample-every 30]

The last line of output is one JSON object: start/end hub RSS and threads, their growth, and
the classrooms' fps per sample (minimum and median)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import log, percentile, rounded, session_cpu_seconds
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, HubProcess


def proc_status(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "Threads"):
            values[key] = int(rest.split()[0])
    return values


class Counter:
    def __init__(self, client: LessonClient) -> None:
        self.client = client
        self.packets = 0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        track = self.client.tracks[Slot.LECTURER_VIDEO]
        while True:
            await track.recv()
            self.packets += 1


async def soak(
    minutes: float, classrooms: int, every: float, size: tuple[int, int]
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    hub = HubProcess(
        work / "hub",
        extra_env={"STREAMHUB_RECORDER__ENABLED": "false", "STREAMHUB_LOG_LEVEL": "WARNING"},
    )
    await asyncio.to_thread(hub.start)
    assert hub.proc is not None
    admin = AdminApi(hub.url)
    clients: list[LessonClient] = []
    counters: list[Counter] = []
    samples: list[dict[str, Any]] = []
    try:
        lesson = await admin.lesson(classrooms=classrooms)
        lecturer = LessonClient(hub.url, lesson.lecturer_token)
        await lecturer.connect(
            {Slot.CAMERA: PatternVideoTrack(*size), Slot.MICROPHONE: ToneAudioTrack()}
        )
        clients.append(lecturer)
        for credential in lesson.credentials:
            client = LessonClient(hub.url, await admin.device_token(credential))
            # Classrooms only receive: their cameras and microphones would cost this process
            # (not the hub) an encoder each, and starve it before the hub on two cores.
            await client.connect({})
            clients.append(client)
            counters.append(Counter(client))
        await asyncio.sleep(5)  # settle: every classroom has its first key frame
        end = time.monotonic() + minutes * 60
        last = [c.packets for c in counters]
        last_t = time.monotonic()
        last_cpu = session_cpu_seconds(hub.proc.pid)
        while time.monotonic() < end:
            await asyncio.sleep(min(every, max(0.0, end - time.monotonic())))
            now = time.monotonic()
            counts = [c.packets for c in counters]
            fps = [(n - m) / (now - last_t) for n, m in zip(counts, last, strict=True)]
            cpu = session_cpu_seconds(hub.proc.pid)
            status = proc_status(hub.proc.pid)
            sample = {
                "t_s": round(now - (end - minutes * 60), 1),
                "rss_mb": round(status["VmRSS"] / 1024, 1),
                "threads": status["Threads"],
                "hub_cpu_per_wall": round((cpu - last_cpu) / (now - last_t), 3),
                "fps_min": round(min(fps), 2),
                "fps_median": round(statistics.median(fps), 2),
            }
            samples.append(sample)
            log(json.dumps(sample))
            last, last_t, last_cpu = counts, now, cpu
    finally:
        for counter in counters:
            counter.task.cancel()
        for client in clients:
            await client.close()
        await admin.close()
        await asyncio.to_thread(hub.stop)
    first, final = samples[0], samples[-1]
    return {
        "minutes": minutes,
        "classrooms": classrooms,
        "video": f"{size[0]}x{size[1]}",
        "samples": len(samples),
        "rss_mb": {"start": first["rss_mb"], "end": final["rss_mb"]},
        "rss_growth_mb": round(final["rss_mb"] - first["rss_mb"], 1),
        "threads": {"start": first["threads"], "end": final["threads"]},
        "fps_min_per_sample": {
            "first": first["fps_min"],
            "last": final["fps_min"],
            "lowest": min(s["fps_min"] for s in samples),
        },
        "fps_median": rounded(statistics.median(s["fps_median"] for s in samples), 2),
        "hub_cpu_per_wall_p50": percentile([s["hub_cpu_per_wall"] for s in samples], 50),
        "series": samples,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--classrooms", type=int, default=8)
    parser.add_argument("--sample-every", type=float, default=30.0, metavar="SECONDS")
    # The peers share this one process: at 640x480 with 8 classrooms it saturates a core
    # before the hub does, and starved peers miss ICE consent. 320x240 keeps it honest.
    parser.add_argument("--video", default="320x240", help="lecturer picture, WxH")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.video.split("x"))
    result = asyncio.run(soak(args.minutes, args.classrooms, args.sample_every, (width, height)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
