"""Classroom PC benchmark: what the room sees and hears from `classroom-agent run` on its default
devices, under a real X server (Xvfb + openbox) and a real sound server (PulseAudio, null sinks).

A lecturer (aiortc, loopback) sends a 30 fps pattern and a 440 Hz tone; the agent shows it
full screen and plays it. Printed as JSON:
- window_fps: pictures the projector window put on screen per second (median of its reports);
- gaps: what the loudspeakers played (the sink's monitor, parec) in 10 ms blocks below a
  quarter of the expected level: count, total and longest (ms); the agent's own underruns;
- echo_attenuation_db: the loudspeakers looped into the microphone, how much weaker the
  lecturer's tone comes back than it sounds in the room (after 5 s to adapt);
- agent_cpu: the agent and its window process, in cores.

    python bench/agent_room.py [--seconds 20] [--lecturer 1280x720] [--screen 1920x1080]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.common import load_average, log, session_cpu_seconds, stop_session
from classroom_agent.config import AgentConfig, save_config
from classroom_agent.status import read_status, state_path
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import Listen, Slot
from tests.support.desktop import Desktop
from tests.support.hub import AdminApi, InProcessHub
from tests.support.pulse import SINK, PulseServer, band_level_db, collect_decoded, gaps

ROOT = Path(__file__).resolve().parent.parent
TONE_HZ, AMPLITUDE = 440.0, 0.3


def size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


async def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-agent-room-"))
    desktop, pulse = Desktop(size(args.screen)), PulseServer()
    desktop.start()
    pulse.start()
    hub = InProcessHub(work / "hub", recorder={"enabled": False})
    await hub.__aenter__()
    admin = AdminApi(hub.url)
    agent: subprocess.Popen[bytes] | None = None
    lecturer: LessonClient | None = None
    listener: asyncio.Task[None] | None = None
    try:
        lesson = await admin.lesson(classrooms=1)
        config = work / "agent.json"
        save_config(AgentConfig(hub.url, lesson.credentials[0]), config)
        lecturer = LessonClient(hub.url, lesson.lecturer_token)
        await lecturer.connect(
            {
                Slot.CAMERA: PatternVideoTrack(*size(args.lecturer), 30),
                Slot.MICROPHONE: ToneAudioTrack(TONE_HZ, AMPLITUDE),
            }
        )
        env = {**os.environ, **desktop.env(), **pulse.env(), "PYTHONPATH": str(ROOT)}
        agent = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "classroom_agent", "--config", str(config), "run"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

        def status() -> dict[str, Any]:
            return read_status(state_path(config)) or {}

        await until(lambda: status().get("state") == "in_lesson", 60, "the agent to join")
        await asyncio.sleep(5)  # warm up: key frame, jitter buffer, window

        # -- the projector and the loudspeakers, for --seconds
        cpu0, t0 = session_cpu_seconds(agent.pid), time.monotonic()
        fps: list[float] = []
        recording = asyncio.create_task(asyncio.to_thread(pulse.record, args.seconds))
        while not recording.done():
            value = (status().get("media") or {}).get("window_fps")
            if value:
                fps.append(float(value))
            await asyncio.sleep(1)
        played = recording.result()
        cpu = (session_cpu_seconds(agent.pid) - cpu0) / (time.monotonic() - t0)
        expected_rms = AMPLITUDE * 32767 / np.sqrt(2)
        steady = played[48_000 // 2 :]
        holes = gaps(steady, expected_rms)
        rms = float(np.sqrt((steady.astype(np.float64) ** 2).mean()))
        media = status().get("media") or {}

        # -- echo: loop the loudspeakers into the microphone
        people = await admin.http.get(f"/api/lessons/{lesson.lesson_id}/participants")
        classroom = next(p for p in people.json() if p["role"] == "classroom")
        await lecturer.request(Listen(participant=classroom["id"]))
        track = await until(
            lambda: next(
                (
                    lecturer.tile_tracks.get(mid)
                    for mid, slot in lecturer.slots.items()
                    if slot is Slot.TILE_AUDIO and lecturer.tiles.get(mid) == classroom["id"]
                ),
                None,
            ),
            15,
            "the classroom's audio",
        )
        heard: list[tuple[float, np.ndarray]] = []
        listener = asyncio.create_task(collect_decoded(track, heard))
        in_room = band_level_db(played, TONE_HZ)
        for index in pulse.source_outputs():
            pulse.pactl("move-source-output", index, f"{SINK}.monitor")
        await asyncio.sleep(5)  # the canceller adapts to the new echo path
        start = time.monotonic()
        await asyncio.sleep(5)
        back = np.concatenate([c for t, c in heard if t >= start] or [np.zeros(1, np.int16)])
        echoed = band_level_db(back, TONE_HZ)
        return {
            "bench": "agent_room",
            "screen": args.screen,
            "lecturer_picture": args.lecturer,
            "seconds": args.seconds,
            "window_fps_median": round(statistics.median(fps), 1) if fps else None,
            "window_fps_reports": fps,
            "loudspeaker_rms": round(rms),
            "sent_rms": round(expected_rms),
            "gaps": {
                "count": len(holes),
                "total_ms": sum(holes),
                "longest_ms": max(holes, default=0.0),
            },
            "playback": {k: v for k, v in media.items() if k.startswith("playback")},
            "echo_delay_ms": media.get("echo_delay_ms"),
            "echo_attenuation_db": round(in_room - echoed, 1),
            "agent_cpu_cores": round(cpu, 3),
            "load_average": load_average(),
        }
    finally:
        if listener is not None:
            listener.cancel()
        stop_session(agent)
        if lecturer is not None:
            await lecturer.close()
        await admin.close()
        await hub.__aexit__(None, None, None)
        pulse.close()
        desktop.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--lecturer", default="1280x720", help="the lecturer's picture size")
    parser.add_argument("--screen", default="1920x1080", help="the projector's size")
    result = asyncio.run(main(parser.parse_args()))
    log("done")
    print(json.dumps(result, indent=2))
