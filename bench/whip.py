"""WHIP ingest figures: how fast an OBS-like publisher (aiortc WHIP client, H.264 320x240 at
30 fps plus Opus) becomes the lecturer a classroom sees, and what it delivers.

Per run, on a fresh scheduled lesson of an in-process hub (uvicorn on loopback):

- post_ms: the WHIP POST until its 201 (the hub admits, starts the lesson, negotiates, gathers);
- connected_ms: from the 201 until the WHIP client's peer connection is connected;
- first_frame_ms: from a classroom's connect (agent codecs) to its first decoded lecturer picture;
- fps: decoded lecturer pictures per second at the classroom over --seconds;
- delay_ms_median / _p95: capture (the pattern's frame time) to decode at the classroom, read
  from the frame counter burned into the picture (hub, client and classroom share this process
  and clock: it includes H.264 encode and decode in this process);
- delete_ms: the DELETE until its 204.

    python bench/whip.py --runs 3 --seconds 5

Progress goes to stderr; the last line of stdout is one JSON object.
"""

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

from bench.common import load_average, log, median_of_runs, percentile, rounded
from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import read_counter
from streamhub.protocol import Slot
from tests.support.frames import AGENT_CODECS
from tests.support.hub import AdminApi, InProcessHub
from tests.support.whip import WhipClient


async def one_run(hub: InProcessHub, admin: AdminApi, seconds: float) -> dict[str, Any]:
    lesson = await admin.lesson(classrooms=1, start=False)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    classroom: LessonClient | None = None
    try:
        started = time.monotonic()
        response = await whip.publish()
        posted = time.monotonic()
        assert response.status_code == 201, response.text
        assert whip.pc is not None and whip.video is not None
        pc = whip.pc
        up = asyncio.Event()
        pc.on(
            "connectionstatechange", lambda: up.set() if pc.connectionState == "connected" else None
        )
        if pc.connectionState != "connected":
            await asyncio.wait_for(up.wait(), 20)
        connected = time.monotonic()
        joining = time.monotonic()
        classroom = LessonClient(
            hub.url, await admin.device_token(lesson.credentials[0]), codecs=AGENT_CODECS
        )
        await classroom.connect({Slot.CAMERA: None, Slot.MICROPHONE: None})
        track = classroom.tracks[Slot.LECTURER_VIDEO]
        decoder = FrameDecoder("H264")
        first: float | None = None
        pictures = 0
        delays: list[float] = []
        deadline: float | None = None
        while deadline is None or time.monotonic() < deadline:
            frames = decoder.decode(await asyncio.wait_for(track.recv(), 20))
            for frame in frames:
                now = time.monotonic()
                if first is None:
                    first, deadline = now, now + seconds
                    continue
                pictures += 1
                sent = whip.video.sent_at.get(read_counter(frame))
                if sent is not None:
                    delays.append((time.time() - sent) * 1000)
        deleting = time.monotonic()
        deleted = await whip.delete()
        assert deleted.status_code == 204
        done = time.monotonic()
        assert first is not None
        return {
            "post_ms": rounded((posted - started) * 1000, 1),
            "connected_ms": rounded((connected - posted) * 1000, 1),
            "first_frame_ms": rounded((first - joining) * 1000, 1),
            "fps": rounded(pictures / seconds, 1),
            "delay_ms_median": rounded(statistics.median(delays), 1) if delays else None,
            "delay_ms_p95": rounded(percentile(delays, 95), 1),
            "delete_ms": rounded((done - deleting) * 1000, 1),
        }
    finally:
        if classroom is not None:
            await classroom.close()
        await whip.close()


async def main(runs: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        async with InProcessHub(
            Path(data) / "hub", recorder={"enabled": False}, signaling={"joins_per_minute": 1000}
        ) as hub:
            admin = AdminApi(hub.url)
            try:
                results = []
                for index in range(runs):
                    result = await one_run(hub, admin, seconds)
                    log(f"run {index + 1}/{runs}: {result}")
                    results.append(result)
            finally:
                await admin.close()

    return {
        "bench": "whip",
        "runs": runs,
        "seconds": seconds,
        "load_average": load_average(),
        **median_of_runs(results),
        "each": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.runs, args.seconds))))
