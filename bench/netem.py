"""Poor-network benchmark: a headless classroom agent behind loss, delay and rate caps.

The same setup as tests/reliability/test_netem.py (hub subprocess on the root end of a private
link, lecturer over loopback publishing a 320x240 PatternVideoTrack and an Opus tone, the agent
inside a network namespace behind the impaired link), with longer windows. One agent run goes
through the conditions in sequence; figures per window come from the agent's
--record-received file:

- fps: received video frames per second of the window (after a settling time);
- freezes / max_freeze_ms: gaps > 500 ms between consecutive received frames (by send time);
- audio_continuity: share of the window covered by received Opus packets (20 ms each);
- audio_only: whether the agent asked the hub for audio only during the window (state file).

The link is tc netem on a veth pair when the kernel has sch_netem, else a userspace forwarder
between two TUN devices (tests/support/netns.py). Impairments apply to both directions.

    python bench/netem.py                 # ~30 s per condition
    python bench/netem.py --seconds-scale 0.5 --quick

Progress and the table go to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.reliability.test_netem import Condition, conditions, run_scenario  # noqa: E402
from tests.support.netns import NetnsUnavailable  # noqa: E402


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def plan(scale: float, quick: bool) -> list[Condition]:
    chosen = conditions(scale)
    if quick:
        keep = {"clean", "loss 5%", "300 kbit/s down", "recovered"}
        chosen = [c for c in chosen if c.name in keep]
    return chosen


async def main(args: argparse.Namespace) -> dict[str, object]:
    chosen = plan(args.seconds_scale, args.quick)
    total = sum(c.seconds for c in chosen)
    log(f"netem bench: {len(chosen)} conditions, {total:.0f} s of lesson")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = await run_scenario(args.keep, chosen, settle_s=args.settle)
    else:
        with tempfile.TemporaryDirectory(prefix="streamhub-netem-") as work:
            report = await run_scenario(Path(work), chosen, settle_s=args.settle)
    log(f"link back end: {report.backend}; agent sessions: {report.sessions}")
    log(report.table())
    for line in report.switches:
        log("  " + line)
    log("link counters:", json.dumps(report.link_stats))
    result = report.as_json()
    result["backend"] = report.backend
    result["agent_sessions"] = report.sessions
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds-scale",
        type=float,
        default=2.0,
        help="multiply the test's window lengths (2.0: ~30 s per condition)",
    )
    parser.add_argument("--settle", type=float, default=3.0, help="seconds skipped per window")
    parser.add_argument(
        "--quick", action="store_true", help="clean, loss 5%%, 300 kbit/s down, recovered"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="work directory to keep (recording, logs)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        outcome = asyncio.run(main(parse_args()))
    except NetnsUnavailable as exc:
        log(f"network namespaces unavailable: {exc}")
        print(json.dumps({"conditions": [], "skipped": str(exc)}))
        sys.exit(0)
    print(json.dumps(outcome))
