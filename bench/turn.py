"""Join time and frame rate of a classroom: direct UDP against TURN over UDP and TURN over TLS.

The county network of tests/net (tests/support/county.py: network namespaces, the hub on
HTTPS 443 with coturn beside it), a lecturer publishing a 640x480 30 fps pattern from the test
process, and a classroom client in the school's namespace behind one of three firewalls:

- ``direct``: none (UDP to the hub's media ports works);
- ``turn-udp``: UDP only to port 3478 (the TURN server), TCP only to 443;
- ``turn-tls``: no UDP at all, TCP only to 443 (the school of issue 12).

The classroom is a LessonClient as the agent uses it (TURN probing and fallback included), run
as a worker process inside the school namespace. Per run it reports the join time (LessonClient
construction to media connected, and to the first decodable lecturer frame), the way it took
(ice plan) and the received frame rate over ``--seconds``. Needs root (namespaces).

    python bench/turn.py --runs 5 --seconds 10

Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import log  # noqa: E402

MODES = {
    "direct": None,
    "turn-udp": {"tcp_ports": (443,), "udp_ports": (3478,)},
    "turn-tls": {"tcp_ports": (443,), "udp_ports": ()},
}


# ---------------------------------------------------------------- the classroom (worker)


async def classroom(hub: str, token: str, ca: str, seconds: float) -> dict[str, Any]:
    import ssl

    from streamhub.client import LessonClient
    from streamhub.client.decode import FrameDecoder
    from streamhub.protocol import Slot

    context = ssl.create_default_context(cafile=ca)
    started = time.monotonic()
    client = LessonClient(hub, token, ice_host_addresses=("auto",), ssl_context=context)
    try:
        await client.connect()
        assert client.pc is not None
        while client.pc.connectionState != "connected":
            if client.pc.connectionState in ("failed", "closed"):
                raise RuntimeError("media failed")
            await asyncio.sleep(0.01)
        connected_s = time.monotonic() - started
        track = client.tracks[Slot.LECTURER_VIDEO]
        decoder = FrameDecoder("VP8")
        while not decoder.decode(await asyncio.wait_for(track.recv(), 20)):
            pass
        first_frame_s = time.monotonic() - started
        frames = 0
        window_start = time.monotonic()
        while time.monotonic() - window_start < seconds:
            await asyncio.wait_for(track.recv(), 5)
            frames += 1
        fps = frames / (time.monotonic() - window_start)
        return {
            "connected_s": connected_s,
            "first_frame_s": first_frame_s,
            "fps": fps,
            "way": client.media_path,
            "plan": client.ice_plan.label if client.ice_plan else None,
        }
    finally:
        await client.close()


# ---------------------------------------------------------------- the run


async def run(runs: int, seconds: float, work: Path) -> dict[str, Any]:
    from tests.support.county import child_env, open_county

    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with open_county(work) as county:
        lan = county.lan
        admin = county.admin()
        lesson = await admin.lesson(classrooms=1)
        lecturer = await county.lecturer(lesson.lecturer_token, 640, 480)
        try:
            for round_ in range(runs):
                for mode, firewall in MODES.items():
                    if firewall is not None:
                        lan.block_udp(lan.school, **firewall)  # type: ignore[arg-type]
                    try:
                        token = await admin.device_token(lesson.credentials[0])
                        proc = await asyncio.create_subprocess_exec(
                            *lan.school.exec_prefix(), sys.executable, __file__, "--worker",
                            county.lan_url, token, str(county.ca), str(seconds),
                            env=child_env(), stdout=subprocess.PIPE,
                        )  # fmt: skip
                        out, _ = await asyncio.wait_for(proc.communicate(), seconds + 90)
                        line = out.decode().strip().splitlines()[-1] if out else "{}"
                        result = json.loads(line)
                    finally:
                        lan.unblock(lan.school)
                    results[mode].append(result)
                    log(f"run {round_ + 1} {mode}: {result}")
        finally:
            await lecturer.close()
            await admin.close()

    def median(mode: str, key: str) -> float | None:
        values = [r[key] for r in results[mode] if key in r]
        return round(statistics.median(values), 3) if values else None

    summary = {
        mode: {
            "connected_s": median(mode, "connected_s"),
            "first_frame_s": median(mode, "first_frame_s"),
            "fps": median(mode, "fps"),
            "ways": sorted({r.get("way", "?") for r in results[mode]}),
            "runs": len(results[mode]),
        }
        for mode in MODES
    }
    direct = summary["direct"]
    for mode in ("turn-udp", "turn-tls"):
        if direct["first_frame_s"] and summary[mode]["first_frame_s"]:
            summary[mode]["join_ratio_vs_direct"] = round(
                summary[mode]["first_frame_s"] / direct["first_frame_s"], 2
            )
    return {"benchmark": "turn", "seconds": seconds, "summary": summary, "runs": results}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        hub, token, ca, seconds = sys.argv[2:6]
        try:
            result = asyncio.run(classroom(hub, token, ca, float(seconds)))
        except Exception as exc:  # reported, not raised: the run goes on
            result = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-turn-") as work:
        report = asyncio.run(run(args.runs, args.seconds, Path(work)))
    log(json.dumps(report["summary"], indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
