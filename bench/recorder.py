"""Recorder benchmark: live CPU of the recorder and speed of finalize.

A synthetic lecturer (640x480 at 30 fps PatternVideoTrack plus an Opus ToneAudioTrack, through
LessonClient in this process) publishes into a real hub subprocess (`python -m streamhub serve`,
in-process recording off); the recorder runs as its own subprocess
(`python -m recorder record --no-finalize`) so that its CPU time can be read alone from
/proc/<pid>/stat. The lesson is then ended through the API and the recording finalized in this
process.

Two lessons are recorded:

- H.264 (hub `media.video_codecs=["H264"]`, lecturer codecs H264+opus): finalize remuxes when
  the live key frames are at most 1.5 x ``recorder.keyframe_every_s`` apart and otherwise
  transcodes onto the key-frame grid (``regrid_h264``; the figures' ``transcoded`` says which);
  its speed is ``finalize_speed_x``;
- VP8 (the fallback codec): finalize transcodes to H.264; ``finalize_speed_x_transcode``.

Figures per lesson:

- live_cpu_fraction: what recording costs in the default deployment, the hub's in-process
  recorder (frames straight from the forwarder, no second WebRTC leg): the hub's CPU per lesson
  second with recording on minus off, same lesson, runs alternated (--in-process-runs, medians);
- live_cpu_fraction_separate_process: the `recorder` process's CPU seconds per lesson second over
  the steady window (from the first recorded video segment plus a warm-up to the lesson's end;
  start-up imports and joining are left out and reported as cpu_before_window_s): a WebRTC
  subscriber, whose aiortc receive path (SRTP, RTP parsing in Python) is most of it;
- bytes_received: sum of the recorded packets' payload sizes (read back from the segments with a
  PyAV demux), bytes_written: size of the segment files, container_overhead = written/received;
- frames: video packets recorded vs frames the lecturer sent;
- finalize_s / finalize_speed_x: median wall time of ``finalize(dir)`` over --finalize-runs runs,
  lesson seconds / that time.

    python bench/recorder.py --seconds 60

Progress goes to stderr; the last line of stdout is one JSON object. Targets: live CPU <= 0.02 of
one core, finalize >= 50x real time without transcode.
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
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av

from bench.common import ROOT, load_average, log, rounded, stop_session
from bench.hubproc import CLOCK_TICKS, cpu_seconds, running_hub, status_kb
from recorder import finalize as finalize_module
from recorder.finalize import finalize
from recorder.journal import read_journal
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack
from streamhub.protocol import Slot
from tests.support.hub import AdminApi

WIDTH, HEIGHT, FPS = 640, 480, 30
WARMUP_S = 2.0
START_TIMEOUT_S = 40.0


def segment_bytes(directory: Path) -> dict[str, Any]:
    """Payload bytes and packets per track, read back from the segments, and the file sizes."""
    tracks: dict[str, dict[str, int]] = {}
    for path in sorted(directory.glob("*.mkv")):
        track = path.stem.rsplit("-", 1)[0]
        entry = tracks.setdefault(track, {"packets": 0, "payload_bytes": 0, "file_bytes": 0})
        entry["file_bytes"] += path.stat().st_size
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.size:
                    entry["packets"] += 1
                    entry["payload_bytes"] += packet.size
    return tracks


async def wait_recording(directory: Path, proc: subprocess.Popen[bytes]) -> float:
    """Wait until the recorder has opened its first video segment; return that monotonic time."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"recorder exited early with {proc.returncode}")
        events = read_journal(directory)
        if any(e.get("event") == "segment" and e.get("kind") == "video" for e in events):
            return time.monotonic()
        await asyncio.sleep(0.1)
    raise RuntimeError("the recorder wrote no video segment in time")


def thread_cpu(pid: int) -> dict[int, float]:
    """utime+stime of each thread of a process, by thread id."""
    threads: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        seconds = cpu_seconds_at(f"/proc/{pid}/task/{tid}/stat")
        if seconds is not None:
            threads[int(tid)] = seconds
    return threads


def cpu_seconds_at(stat_path: str) -> float | None:
    try:
        raw = Path(stat_path).read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def hub_env(codec: str, in_process_recorder: bool) -> dict[str, str]:
    """The benched hub: the lesson's video codec, its own recorder on or off, no join limit."""
    return {
        "STREAMHUB_RECORDER__ENABLED": "true" if in_process_recorder else "false",
        "STREAMHUB_SIGNALING__JOINS_PER_MINUTE": "100000",
        "STREAMHUB_MEDIA__VIDEO_CODECS": json.dumps([codec]),
    }


async def record_lesson(
    codec: str, seconds: float, work: Path, profile: bool = False
) -> dict[str, Any]:
    """Record one synthetic lesson; return the live figures and the recording folder."""
    env = hub_env(codec, in_process_recorder=False)
    rec_dir = work / f"recording-{codec.lower()}"
    recorder: subprocess.Popen[bytes] | None = None
    lecturer: LessonClient | None = None
    with running_hub(work / f"hub-{codec.lower()}", env) as hub:
        api = AdminApi(hub.url)
        try:
            setup = await api.lesson(classrooms=0, title=f"Recorder bench {codec}")
            token = (await api.post(f"/api/lessons/{setup.lesson_id}/recorder-token"))["token"]
            video, audio = PatternVideoTrack(WIDTH, HEIGHT, FPS), ToneAudioTrack()
            lecturer = LessonClient(
                hub.url, setup.lecturer_token, name="Lecturer", codecs=(codec, "opus")
            )
            joined = await lecturer.connect({Slot.CAMERA: video, Slot.MICROPHONE: audio})
            if joined.video_codec.upper() != codec:
                raise RuntimeError(f"lesson codec is {joined.video_codec}, wanted {codec}")
            log(f"[{codec}] lecturer joined; starting the recorder subprocess")
            rec_log_path = work / f"recorder-{codec.lower()}.log"
            rec_log = rec_log_path.open("wb")
            launched = time.monotonic()
            recorder = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
                [
                    sys.executable,
                    *(
                        ("-m", "cProfile", "-o", str(work / f"recorder-{codec.lower()}.prof"))
                        if profile
                        else ()
                    ),
                    *("-m", "recorder", "record", "--hub", hub.url),
                    *("--token", token, "--dir", str(rec_dir), "--no-finalize"),
                ],
                cwd=ROOT,
                stdout=rec_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                first_segment = await wait_recording(rec_dir, recorder)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}; recorder log: {tail(rec_log_path)}") from exc
            startup_s = first_segment - launched
            await asyncio.sleep(WARMUP_S)
            cpu0 = cpu_seconds(recorder.pid)
            threads0 = thread_cpu(recorder.pid)
            frames0 = video.count
            t0 = time.monotonic()
            log(f"[{codec}] recording; measuring {seconds:.0f} s")
            await asyncio.sleep(seconds)
            cpu1 = cpu_seconds(recorder.pid)
            threads1 = thread_cpu(recorder.pid)
            t1 = time.monotonic()
            frames_sent = video.count
            rss_kb = status_kb(recorder.pid, "VmHWM")
            assert cpu0 is not None and cpu1 is not None
            await api.post(f"/api/lessons/{setup.lesson_id}/end")
            try:
                code = await asyncio.get_running_loop().run_in_executor(None, recorder.wait, 20)
            except subprocess.TimeoutExpired:
                code = None
                log(f"[{codec}] recorder did not exit after the lesson ended")
        finally:
            if lecturer is not None:
                await lecturer.close()
            stop_session(recorder)
            await api.close()
    tracks = segment_bytes(rec_dir)
    received = sum(t["payload_bytes"] for t in tracks.values())
    written = sum(t["file_bytes"] for t in tracks.values())
    window = t1 - t0
    main_thread = threads1.get(recorder.pid, 0.0) - threads0.get(recorder.pid, 0.0)
    other_threads = sum(
        v - threads0.get(tid, 0.0) for tid, v in threads1.items() if tid != recorder.pid
    )
    video_packets = tracks.get("lecturer_video", {}).get("packets", 0)
    return {
        "codec": codec,
        "dir": rec_dir,
        "lesson_s": round(t1 - first_segment, 2),
        "window_s": round(window, 2),
        "live_cpu_fraction": rounded((cpu1 - cpu0) / window, 4),
        "startup_s": round(startup_s, 2),
        # The event loop (aiortc receive path, _pump) vs the writer thread (PyAV mux, journal).
        "main_thread_cpu_fraction": rounded(main_thread / window, 4),
        "other_threads_cpu_fraction": rounded(other_threads / window, 4),
        "cpu_before_window_s": rounded(cpu0, 2),  # start-up, join and warm-up
        "recorder_max_rss_mb": None if rss_kb is None else round(rss_kb / 1024, 1),
        "recorder_exit_code": code,
        "bytes_received": received,
        "bytes_written": written,
        "container_overhead": rounded(written / received if received else None, 4),
        "video_packets_recorded": video_packets,
        "video_frames_sent": frames_sent,
        "video_frames_sent_in_window": frames_sent - frames0,
        "tracks": tracks,
    }


async def hub_cpu_while_teaching(
    codec: str, seconds: float, work: Path, recording: bool, run: int
) -> dict[str, Any]:
    """Hub CPU per lesson second while a lecturer teaches, with the in-process recorder on or
    off: the difference is what recording costs the hub."""
    env = hub_env(codec, in_process_recorder=recording)
    data_dir = work / f"hub-inproc-{codec.lower()}-{'on' if recording else 'off'}-{run}"
    lecturer: LessonClient | None = None
    with running_hub(data_dir, env) as hub:
        assert hub.proc is not None
        api = AdminApi(hub.url)
        try:
            setup = await api.lesson(classrooms=0, title=f"Recorder bench {codec}")
            video = PatternVideoTrack(WIDTH, HEIGHT, FPS)
            lecturer = LessonClient(
                hub.url, setup.lecturer_token, name="Lecturer", codecs=(codec, "opus")
            )
            await lecturer.connect({Slot.CAMERA: video, Slot.MICROPHONE: ToneAudioTrack()})
            if recording:
                recordings = data_dir / "recordings"
                deadline = time.monotonic() + START_TIMEOUT_S
                while not list(recordings.glob("*/lecturer_video-*.mkv")):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the in-process recorder wrote no video segment")
                    await asyncio.sleep(0.1)
            await asyncio.sleep(WARMUP_S)
            cpu0, t0, frames0 = cpu_seconds(hub.proc.pid), time.monotonic(), video.count
            await asyncio.sleep(seconds)
            cpu1, t1, frames1 = cpu_seconds(hub.proc.pid), time.monotonic(), video.count
            assert cpu0 is not None and cpu1 is not None
        finally:
            if lecturer is not None:
                await lecturer.close()
            await api.close()
    return {
        "recording": recording,
        "hub_cpu_fraction": round((cpu1 - cpu0) / (t1 - t0), 4),
        "lecturer_fps": round((frames1 - frames0) / (t1 - t0), 2),
    }


async def in_process_cost(codec: str, seconds: float, work: Path, runs: int) -> dict[str, Any]:
    """The hub's own recorder (the default) takes frames from the forwarder: its cost is the
    hub's CPU with recording on minus off, alternated ``runs`` times (medians)."""
    samples: dict[bool, list[float]] = {False: [], True: []}
    for run in range(runs):
        for recording in (False, True):
            figures = await hub_cpu_while_teaching(codec, seconds, work, recording, run)
            log(f"[{codec}] in-process, run {run}: {json.dumps(figures)}")
            samples[recording].append(figures["hub_cpu_fraction"])
    off, on = statistics.median(samples[False]), statistics.median(samples[True])
    return {
        "hub_cpu_fraction_recording_off": samples[False],
        "hub_cpu_fraction_recording_on": samples[True],
        "live_cpu_fraction_in_process": round(on - off, 4),
    }


@contextlib.contextmanager
def h264_extradata_shim(directory: Path) -> Iterator[None]:
    """Bench-only stand-in for a fix in recorder/finalize.py: its H.264 thumbnail decoder is
    created without the stream's extradata (the segments hold AVCC, as Matroska stores H.264), so
    decoding the first key frame fails. Hand every "h264" decoder that finalize creates the
    extradata of the recording's first lecturer video segment."""
    first = min(directory.glob("lecturer_video-*.mkv"))
    with av.open(str(first)) as container:
        extradata = container.streams.video[0].codec_context.extradata

    class CodecContext:
        @staticmethod
        def create(name: str, mode: str = "r") -> Any:
            context = av.CodecContext.create(name, mode)
            if name == "h264" and mode == "r" and extradata:
                context.extradata = extradata
            return context

    shim = types.ModuleType("av_with_h264_extradata")
    shim.__dict__.update(av.__dict__)
    shim.CodecContext = CodecContext  # type: ignore[attr-defined]
    original = finalize_module.av
    finalize_module.av = shim  # type: ignore[attr-defined]
    try:
        yield
    finally:
        finalize_module.av = original  # type: ignore[attr-defined]


def time_finalize(directory: Path, runs: int) -> dict[str, Any]:
    try:
        return _time_finalize(directory, runs)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log(f"finalize failed: {error}")
    if not any(directory.glob("lecturer_video-*.mkv")):
        return {"finalize_error": error}
    with av.open(str(min(directory.glob("lecturer_video-*.mkv")))) as container:
        codec = container.streams.video[0].codec_context.name
    if codec != "h264":
        return {"finalize_error": error}
    log("retrying finalize with the bench's H.264 extradata shim")
    with h264_extradata_shim(directory):
        patched = _time_finalize(directory, runs)
    return {
        "finalize_error": error,
        "finalize_speed_x": None,
        "finalize_speed_x_with_extradata_fix": patched["finalize_speed_x"],
        "patched": patched,
    }


def _time_finalize(directory: Path, runs: int) -> dict[str, Any]:
    walls: list[float] = []
    manifest: dict[str, Any] = {}
    for _ in range(runs):
        for name in ("lesson.mp4", "manifest.json"):
            (directory / name).unlink(missing_ok=True)
        start = time.perf_counter()
        manifest = finalize(directory)
        walls.append(time.perf_counter() - start)
    wall = statistics.median(walls)
    duration = float(manifest["duration_s"])
    lesson = directory / "lesson.mp4"
    video = next((t for t in manifest["tracks"] if t["kind"] == "video"), {})
    return {
        "duration_s": duration,
        "finalize_s": round(wall, 3),
        "finalize_runs_s": [round(w, 3) for w in walls],
        "finalize_speed_x": round(duration / wall, 1) if wall > 0 else None,
        "transcoded": video.get("transcoded"),
        "archive_bytes": lesson.stat().st_size if lesson.exists() else None,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "bench": "recorder",
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "load_average_start": round(load_average(), 2),
    }
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp:
        work = Path(args.keep or tmp)
        cases: dict[str, dict[str, Any]] = {}
        errors: dict[str, str] = {}
        for codec in [c.strip().upper() for c in args.codecs.split(",") if c.strip()]:
            try:
                live = await record_lesson(codec, args.seconds, work, args.profile)
                shown = {k: v for k, v in live.items() if k != "dir"}
                log(f"[{codec}] live: {json.dumps(shown)}")
                fin = await asyncio.get_running_loop().run_in_executor(
                    None, time_finalize, live.pop("dir"), args.finalize_runs
                )
                log(f"[{codec}] finalize: {json.dumps(fin)}")
                inproc = (
                    await in_process_cost(codec, args.seconds, work, args.in_process_runs)
                    if args.in_process_runs
                    else {}
                )
                cases[codec] = {**live, **fin, **inproc}
            except Exception as exc:  # report and go on with the other codec
                errors[codec] = f"{type(exc).__name__}: {exc}"
                log(f"[{codec}] failed: {errors[codec]}")
        result["cases"] = cases
        if errors:
            result["errors"] = errors
        vp8, h264 = cases.get("VP8", {}), cases.get("H264", {})
        main = vp8 or h264
        # The headline is the default deployment: the hub's in-process recorder.
        result["live_cpu_fraction"] = main.get(
            "live_cpu_fraction_in_process", main.get("live_cpu_fraction")
        )
        result["live_cpu_fraction_separate_process"] = main.get("live_cpu_fraction")
        result["live_cpu_fraction_h264"] = h264.get(
            "live_cpu_fraction_in_process", h264.get("live_cpu_fraction")
        )
        result["finalize_speed_x"] = h264.get("finalize_speed_x")
        if "finalize_error" in h264:
            result["finalize_error_h264"] = h264["finalize_error"]
            result["finalize_speed_x_h264_with_extradata_fix"] = h264.get(
                "finalize_speed_x_with_extradata_fix"
            )
        result["finalize_speed_x_transcode"] = vp8.get("finalize_speed_x")
        result["bytes_received"] = vp8.get("bytes_received")
        result["bytes_written"] = vp8.get("bytes_written")
        result["load_average_end"] = round(load_average(), 2)
        result["targets"] = {
            "live_cpu_fraction_max": 0.02,
            "finalize_speed_x_min": 50,
            "live_ok": result["live_cpu_fraction"] is not None
            and result["live_cpu_fraction"] <= 0.02,
            "finalize_ok": result["finalize_speed_x"] is not None
            and result["finalize_speed_x"] >= 50,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="lesson length to record")
    parser.add_argument("--finalize-runs", type=int, default=3, help="finalize repeats (median)")
    parser.add_argument(
        "--in-process-runs",
        type=int,
        default=2,
        help="hub runs with the in-process recorder off and on, alternated (0: skip)",
    )
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (debugging)")
    parser.add_argument(
        "--profile", action="store_true", help="run the recorder under cProfile (with --keep)"
    )
    parser.add_argument("--codecs", default="H264,VP8", help="lessons to record, in order")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
