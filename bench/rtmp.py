"""RTMP bridge figures: Debian's ``ffmpeg`` pushes H.264/AAC (320x240 at 25 fps, libx264
ultrafast/zerolatency, key frame every second) into an in-process hub, as a lecture-capture box
would, and a classroom decodes it.

The pictures are made here, each with its frame number burned in (the blocks of
``streamhub.client.synthetic``), and written raw to ffmpeg's stdin in real time; ffmpeg encodes
them and pushes over RTMP. Per run, on a fresh scheduled lesson:

- publish_ms: from starting ffmpeg until the push is the lesson's lecturer (ffmpeg's start,
  the handshake, the key check, the lesson going live);
- first_frame_ms: from a classroom's connect to its first decoded lecturer picture (it waits
  for the next key frame: RTMP cannot ask for one);
- fps: decoded lecturer pictures per second at the classroom over --seconds;
- delay_ms_median / _p95: from writing a picture to ffmpeg to its decode at the classroom (the
  whole path: ffmpeg's encode and FLV muxing, RTMP over loopback, the bridge, RTP to the
  classroom, its jitter buffer and H.264 decode);
- push_ms_median: from writing a picture to ffmpeg to its arrival at the bridge (ffmpeg's
  encode and muxing, RTMP over loopback);
- hub_delay_ms_median / _p95: from the bridge handing a picture to the forwarder (on the loop
  turn its RTMP message arrived) to its decode at the classroom: what the hub adds (RTP
  packetizing and sending, the classroom's receive, jitter buffer and H.264 decode);
- audio_packets_per_s: Opus packets the classroom receives (50 expected: 20 ms each).

With sound, most of the whole path's delay is ffmpeg's, not the hub's: its raw PCM input is read
in 100 ms blocks and AAC looks ahead a frame, and FLV's muxer holds each picture until sound of
the same time is there. ``--no-sound`` pushes the picture alone and shows the path without it.

    python bench/rtmp.py --runs 3 --seconds 8 [--no-sound]

Progress goes to stderr; the last line of stdout is one JSON object.
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

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_average, log, median_of_runs, percentile, rounded
from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import read_counter, stamp_counter
from streamhub.protocol import Slot
from streamhub.rtmp.media import PacketTrack
from tests.support.frames import AGENT_CODECS
from tests.support.hub import AdminApi, InProcessHub
from tests.support.net import free_port

WIDTH, HEIGHT, FPS = 320, 240, 25

# When the bridge handed each H.264 access unit to the forwarder (on the loop turn its RTMP
# message arrived), by its bytes: the classroom receives the very same bytes.
ARRIVALS: dict[bytes, float] = {}


def _timed_put(original: Any) -> Any:
    def put(self: PacketTrack, packet: av.Packet) -> None:
        if self.kind == "video":
            ARRIVALS[bytes(packet)] = time.monotonic()
        original(self, packet)

    return put


RATE = 44100
AUDIO_STEP = RATE // 50  # 20 ms of sound per write


def ffmpeg_args(url: str, fifo: Path | None) -> list[str]:
    # The sound comes live through a FIFO, as the picture through stdin, both stamped with the
    # wall clock as a capture box's are with its capture clock: FLV's muxer interleaves by
    # time, and a sound source starting later than the picture would hold pictures back.
    audio = [
        "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-probesize", "32", "-analyzeduration", "0",
        "-fflags", "nobuffer", "-use_wallclock_as_timestamps", "1", "-i", str(fifo),
        "-c:a", "aac", "-b:a", "96k",
    ] if fifo is not None else ["-an"]  # fmt: skip
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}", "-framerate", str(FPS),
        "-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer",
        "-use_wallclock_as_timestamps", "1", "-i", "-",
        *audio,
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(FPS),
        "-pix_fmt", "yuv420p", "-f", "flv", url,
    ]  # fmt: skip


async def feed_audio(fifo: Path) -> None:
    """A 440 Hz tone in real time, 20 ms per write."""
    loop = asyncio.get_running_loop()
    # Opening for writing waits for ffmpeg to open it for reading: in a thread.
    fd = await asyncio.to_thread(os.open, fifo, os.O_WRONLY)
    os.set_blocking(fd, False)
    try:
        start = loop.time()
        n = 0
        t = np.arange(AUDIO_STEP) / RATE
        while True:
            await asyncio.sleep(max(0.0, start + n * AUDIO_STEP / RATE - loop.time()))
            tone = 0.3 * np.sin(2 * np.pi * 440 * (t + n * AUDIO_STEP / RATE))
            with contextlib.suppress(BlockingIOError):  # ffmpeg behind: a gap, not a stall
                os.write(fd, (tone * 32767).astype("<i2").tobytes())
            n += 1
    finally:
        os.close(fd)


async def feed(proc: asyncio.subprocess.Process, sent_at: dict[int, float]) -> None:
    """Pictures in real time: a moving bar and the frame number."""
    assert proc.stdin is not None
    loop = asyncio.get_running_loop()
    start = loop.time()
    n = 0
    while True:
        image = np.full((HEIGHT, WIDTH), 96, dtype=np.uint8)
        x = (n * 4) % WIDTH
        image[40:, x : x + 16] = 220
        stamp_counter(image, n)
        await asyncio.sleep(max(0.0, start + n / FPS - loop.time()))
        proc.stdin.write(image.tobytes())
        await proc.stdin.drain()
        sent_at[n] = time.monotonic()
        n += 1


async def one_run(hub: InProcessHub, admin: AdminApi, seconds: float, fifo: Path) -> dict[str, Any]:
    lesson = await admin.lesson(classrooms=1, start=False)
    key = await admin.post(f"/api/lessons/{lesson.lesson_id}/rtmp-key")
    ARRIVALS.clear()
    sent_at: dict[int, float] = {}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *ffmpeg_args(key["url"], fifo),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    feeder = asyncio.get_running_loop().create_task(feed(proc, sent_at))
    sound = asyncio.get_running_loop().create_task(feed_audio(fifo)) if fifo else None
    classroom: LessonClient | None = None
    audio_task: asyncio.Task[None] | None = None
    try:
        while True:
            room = hub.services.lessons.rooms.get(lesson.lesson_id)
            if room is not None and room.feed is not None:
                break
            if time.monotonic() - started > 20:
                raise RuntimeError("the push did not become the lecturer")
            await asyncio.sleep(0.005)
        published = time.monotonic()
        joining = time.monotonic()
        classroom = LessonClient(
            hub.url, await admin.device_token(lesson.credentials[0]), codecs=AGENT_CODECS
        )
        await classroom.connect({Slot.CAMERA: None, Slot.MICROPHONE: None})
        audio_packets = 0

        async def count_audio() -> None:
            nonlocal audio_packets
            assert classroom is not None
            while True:
                await classroom.tracks[Slot.LECTURER_AUDIO].recv()
                audio_packets += 1

        track = classroom.tracks[Slot.LECTURER_VIDEO]
        decoder = FrameDecoder("H264")
        first: float | None = None
        pictures = 0
        delays: list[float] = []
        hub_delays: list[float] = []
        push_delays: list[float] = []
        deadline: float | None = None
        while deadline is None or time.monotonic() < deadline:
            packet = await asyncio.wait_for(track.recv(), 20)
            arrived = ARRIVALS.pop(bytes(packet), None)
            for frame in decoder.decode(packet):
                now = time.monotonic()
                if first is None:
                    first, deadline = now, now + seconds
                    audio_task = asyncio.get_running_loop().create_task(count_audio())
                    continue
                pictures += 1
                n = read_counter(frame)
                if n in sent_at:
                    delays.append((now - sent_at[n]) * 1000)
                if arrived is not None:
                    hub_delays.append((now - arrived) * 1000)
                    if n in sent_at:
                        push_delays.append((arrived - sent_at[n]) * 1000)
        assert first is not None
        return {
            "publish_ms": rounded((published - started) * 1000, 1),
            "first_frame_ms": rounded((first - joining) * 1000, 1),
            "fps": rounded(pictures / seconds, 1),
            "delay_ms_median": rounded(statistics.median(delays), 1) if delays else None,
            "delay_ms_p95": rounded(percentile(delays, 95), 1),
            "push_ms_median": rounded(statistics.median(push_delays), 1) if push_delays else None,
            "hub_delay_ms_median": rounded(statistics.median(hub_delays), 1)
            if hub_delays
            else None,
            "hub_delay_ms_p95": rounded(percentile(hub_delays, 95), 1),
            "audio_packets_per_s": rounded(audio_packets / seconds, 1),
        }
    finally:
        for task in (feeder, sound, audio_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if classroom is not None:
            await classroom.close()
        if proc.stdin is not None:
            proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()


async def main(runs: int, seconds: float, sound: bool = True) -> dict[str, Any]:
    PacketTrack.put = _timed_put(PacketTrack.put)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as data:
        async with InProcessHub(
            Path(data) / "hub",
            recorder={"enabled": False},
            signaling={"joins_per_minute": 1000},
            rtmp={"enabled": True, "port": free_port()},
        ) as hub:
            admin = AdminApi(hub.url)
            try:
                results = []
                for index in range(runs):
                    fifo = Path(data) / f"sound-{index}" if sound else None
                    if fifo is not None:
                        os.mkfifo(fifo)
                    result = await one_run(hub, admin, seconds, fifo)
                    log(f"run {index + 1}/{runs}: {result}")
                    results.append(result)
                    await asyncio.sleep(0.5)  # the push's end reaches the hub
            finally:
                await admin.close()

    return {
        "bench": "rtmp",
        "runs": runs,
        "seconds": seconds,
        "sound": sound,
        "load_average": load_average(),
        **median_of_runs(results),
        "each": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--no-sound", action="store_true", help="push the picture alone (no AAC, no interleaving)"
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.runs, args.seconds, not args.no_sound))))
