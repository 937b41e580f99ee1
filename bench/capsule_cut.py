"""Capsule benchmark: how long a 2-minute capsule takes to cut from a long lesson archive.

Builds a synthetic archive as finalize writes one (H.264 with a key frame every 2 s, Opus audio,
fast start; --minutes long, --width x --height at --fps; built once, not timed), then times
``streamhub.capsules.cut.cut_clip`` for a --length clip from its middle:

- copy_s: a start on a key frame (or snapped to one): every packet copied;
- reencode_s: a start between key frames: the clip's video re-encoded (libx264 veryfast),
  audio copied — its head only (up to the next key frame, then copied) with --archive-encoder
  (the archive encoded as finalize encodes it, slower to build), whole without.

Prints JSON. Example: python bench/capsule_cut.py --minutes 45 --length 120
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamhub.capsules.cut import cut_clip
from tests.capsules import archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--length", type=float, default=120.0, help="capsule seconds")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--archive-encoder", action="store_true")
    args = parser.parse_args()
    archive.WIDTH, archive.HEIGHT, archive.FPS = args.width, args.height, args.fps
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        built = time.perf_counter()
        source = archive.make_archive(
            root / "lesson.mp4", seconds=args.minutes * 60, archive_encoder=args.archive_encoder
        )
        build_s = time.perf_counter() - built
        middle = round(args.minutes * 30 / 2) * 2.0  # a key frame near the middle
        figures: dict[str, float | int | str] = {
            "lesson_min": args.minutes,
            "capsule_s": args.length,
            "picture": f"{args.width}x{args.height}@{args.fps}",
            "archive_mb": round(source.stat().st_size / 1e6, 1),
            "build_archive_s": round(build_s, 1),
        }
        # One frame past a key frame: the most a head can be (up to the next grid line).
        for name, start in (("copy", middle), ("reencode", middle + 1 / args.fps)):
            began = time.perf_counter()
            cut = cut_clip(source, root / name, start, start + args.length)
            figures[f"{name}_s"] = round(time.perf_counter() - began, 2)
            figures[f"{name}_duration_s"] = cut.duration_s
            if cut.copied_from_s is not None:
                figures[f"{name}_head_s"] = round(cut.copied_from_s - start, 2)
            assert cut.reencoded is (name == "reencode")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
