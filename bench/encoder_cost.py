"""What a classroom PC's encoder pays for H.264 against VP8, at the same resolution and rate.

The classroom agent encodes its camera with aiortc's encoders as StreamHub installs them
(``aiortc.rtcrtpsender.get_encoder`` after ``aiortc_hooks.install``: libvpx for VP8, libx264 at
the "veryfast" preset for H.264), at the bitrate aiortc starts them with (VP8 500 kbit/s, H.264
1 Mbit/s); "H264-aiortc" is aiortc's own H.264 encoder (libx264's default preset), for
reference. Each gets the same moving, textured picture (unpaced: CPU seconds are counted), and
the bench reports per codec and size CPU seconds per second of video (1.0 = one core busy), the
bitrate produced and the median time per frame. Alternating rounds, medians.

    python bench/encoder_cost.py [--seconds 10] [--rounds 3]

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import fractions
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiortc.rtcrtpsender
import av
import numpy as np
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bench.common import load_average, log, rounded
from streamhub.media import aiortc_hooks

H264 = RTCRtpCodecParameters(
    mimeType="video/H264",
    clockRate=90000,
    payloadType=102,
    parameters={"packetization-mode": "1", "profile-level-id": "42e01f"},
)
CODECS = {
    "VP8": RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
    "H264": H264,
    "H264-aiortc": H264,
}
SIZES = {"640x360@15": (640, 360, 15), "640x480@30": (640, 480, 30)}


def pictures(width: int, height: int, count: int) -> list[av.VideoFrame]:
    """A camera-like picture: gradients, a moving bar, sensor noise."""
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:height, 0:width]
    frames = []
    for index in range(count):
        image = np.empty((height, width, 3), np.uint8)
        image[..., 0] = (xs + index * 2) % 256
        image[..., 1] = (ys + index) % 256
        image[..., 2] = 96
        bar = (index * 6) % width
        image[:, bar : bar + 30] = 230
        image = np.clip(image.astype(np.int16) + rng.integers(-6, 7, image.shape), 0, 255)
        frame = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="bgr24")
        frames.append(frame.reformat(format="yuv420p"))
    return frames


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def encode(codec: str, frames: list[av.VideoFrame], fps: int) -> dict[str, float]:
    make = get_encoder if codec == "H264-aiortc" else aiortc.rtcrtpsender.get_encoder
    encoder = make(CODECS[codec])
    octets = 0
    per_frame: list[float] = []
    start = cpu()
    for index, frame in enumerate(frames):
        frame.pts = index * 90000 // fps
        frame.time_base = fractions.Fraction(1, 90000)
        t0 = time.perf_counter()
        payloads, _ = encoder.encode(frame, force_keyframe=index == 0)
        per_frame.append((time.perf_counter() - t0) * 1000)
        octets += sum(len(p) for p in payloads)
    used = cpu() - start
    seconds = len(frames) / fps
    return {
        "cpu_per_video_second": used / seconds,
        "kbps": octets * 8 / seconds / 1000,
        "frame_ms_median": statistics.median(per_frame),
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    aiortc_hooks.install(["127.0.0.1"])
    results: dict[str, Any] = {}
    for label, (width, height, fps) in SIZES.items():
        frames = pictures(width, height, int(args.seconds * fps))
        runs: dict[str, list[dict[str, float]]] = {codec: [] for codec in CODECS}
        for round_ in range(args.rounds):
            order = list(CODECS) if round_ % 2 == 0 else list(reversed(list(CODECS)))
            for codec in order:
                runs[codec].append(encode(codec, frames, fps))
                log(f"{label} {codec} round {round_ + 1}: {runs[codec][-1]}")
        summary = {
            codec: {
                key: rounded(statistics.median(r[key] for r in rows), 3)
                for key in ("cpu_per_video_second", "kbps", "frame_ms_median")
            }
            for codec, rows in runs.items()
        }
        vp8 = summary["VP8"]["cpu_per_video_second"]
        for codec in ("H264", "H264-aiortc"):
            h264 = summary[codec]["cpu_per_video_second"]
            summary[f"{codec}_over_vp8_cpu"] = rounded(h264 / vp8 if vp8 else None, 2)
        results[label] = summary
    return {
        "results": results,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "av": av.__version__,
        "load_average_1m": rounded(load_average(), 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="video seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per codec")
    print(json.dumps(main(parser.parse_args())))
