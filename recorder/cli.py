"""`recorder`: record a lesson from a separate process, or finalize a recording folder.

    recorder record --hub URL --token RECORDER_TOKEN --dir PATH   # until the lesson ends
    recorder finalize PATH                                          # segments -> archive

The hub records in-process by default; this command is for a recorder on its own machine
(given a token from POST /api/lessons/{id}/recorder-token) and for finalizing by hand what a
crash left behind.

`record` exits 0 once the lesson ended and the archive is built, 1 when the hub refuses the
join (or finalizing fails), and 3 when recording stops before the lesson ends (the hub closed
the session, the connection was lost, the disk is full): the segments stay in the folder, for
another `record` into the same folder or a `finalize`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from recorder.finalize import FinalizeError, finalize

EXIT_CLOSED = 3  # the hub closed the session before the lesson ended


async def _record(args: argparse.Namespace) -> int:
    from recorder.session import RecordingSession, webrtc_subscriber

    session = RecordingSession(webrtc_subscriber(args.hub, args.token, args.ice_host), args.dir)
    task = asyncio.create_task(session.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        print("recorder: stopped; segments are closed", file=sys.stderr)
        return 0
    except Exception as exc:
        print(f"recorder: {exc}", file=sys.stderr)
        return 1
    finally:
        # Finalizing blocks this thread: SIGTERM must stop the process, as by default.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if not session.lesson_ended:
        why = session.stopped_reason or session.closed_by_hub or "the session ended"
        print(
            f"recorder: stopped before the lesson ended: {why}; the segments are in "
            f"{args.dir} (record into it again, or `recorder finalize {args.dir}`)",
            file=sys.stderr,
        )
        return EXIT_CLOSED
    if not args.no_finalize:
        return _finalize(args.dir, args.thumbnail_every)
    return 0


def _finalize(
    directory: Path, every: float, keyframe_every: float = 2.0, regrid_h264: bool = True
) -> int:
    try:
        manifest = finalize(
            directory,
            thumbnail_every_s=every,
            keyframe_every_s=keyframe_every,
            regrid_h264=regrid_h264,
        )
    except FinalizeError as exc:
        print(f"recorder: {directory}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"duration_s": manifest["duration_s"], "files": manifest["files"]}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recorder", description="StreamHub lesson recorder")
    sub = parser.add_subparsers(dest="command", required=True)
    record = sub.add_parser("record", help="record a live lesson as a hidden subscriber")
    record.add_argument("--hub", required=True, help="hub URL, e.g. http://127.0.0.1:8000")
    record.add_argument("--token", required=True, help="recorder token of the lesson")
    record.add_argument("--dir", required=True, type=Path, help="folder for the recording")
    record.add_argument(
        "--ice-host", action="append", default=None, help="ICE host address (repeatable)"
    )
    record.add_argument("--no-finalize", action="store_true", help="leave only the segments")
    record.add_argument("--thumbnail-every", type=float, default=30.0, metavar="SECONDS")
    final = sub.add_parser("finalize", help="build the archive of a recording folder")
    final.add_argument("dir", type=Path)
    final.add_argument("--thumbnail-every", type=float, default=30.0, metavar="SECONDS")
    final.add_argument(
        "--keyframe-every", type=float, default=2.0, metavar="SECONDS",
        help="key-frame grid of transcoded video (recorder.keyframe_every_s)",
    )  # fmt: skip
    final.add_argument(
        "--copy-h264", action="store_true",
        help="copy H.264 as it came even when its key frames are sparse",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "record":
        args.ice_host = args.ice_host or ["127.0.0.1"]
        sys.exit(asyncio.run(_record(args)))
    sys.exit(_finalize(args.dir, args.thumbnail_every, args.keyframe_every, not args.copy_h264))
