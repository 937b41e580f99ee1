"""Data-loss benchmark (issue 13, items 9-11): what survives recorder identity clashes, a disk
that fills mid-lesson, and a Redis outage with an end and a revocation during it.

Three sections, each on real parts (hub processes or an in-process hub, `recorder record`
subprocesses, a tmpfs of a few MB, a real `redis-server`):

- ``identities``: one lesson recorded by the hub's own recorder, a `recorder record` with a
  recorder token, a second `recorder record` with the *same* token, a token holder who rejoins
  again and again, and one recorder too many (``signaling.max_recorders_per_lesson`` = 3); one
  of the external recorders is closed by the hub mid-lesson. Per recorder: identity, exit code,
  seconds its archive holds of the lesson.
- ``disk_full`` (root: mounts a tmpfs): a lesson whose recordings disk fills mid-lesson, ended
  while the disk is full; then space is freed. Per trial: seconds recorded before the disk
  filled, seconds the archive keeps (goal: all but the last second), how late the lecturer was
  told, how soon after space was freed the recording was ready.
- ``redis_outage``: two hub nodes, Redis stopped for ``--outage`` seconds (20); through the node
  that does not hold the lesson, a classroom's credential is revoked 5 s into the outage and the
  lesson ended at 10 s. Two runs: the default reconciliation (``reconcile_every_s`` 3: applied
  "at once through the catalog check"), and reconciliation only on Redis's return
  (``reconcile_every_s`` 300). Seconds from each API call, and from Redis's return, to the
  moment the lesson's node applied it (goal: within 5 s of Redis returning, or at once).

    python bench/data_loss.py [--sections identities,disk_full,redis_outage] [--lesson 20]

Progress goes to stderr; the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av

from bench.common import load_average, log, rounded
from streamhub.client import LessonClient
from streamhub.errors import ErrorCode
from tests.support.cluster import start_cluster, stop_cluster
from tests.support.hub import AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching, lesson_taught
from tests.support.recorder_cli import recorder_exit, start_recorder
from tests.support.recordings import recording_stopped, wait_recording
from tests.support.small_disk import fill_until, small_disk
from tests.support.wait import eventually


def archive_s(folder: Path) -> float | None:
    path = folder / "lesson.mp4"
    if not path.exists():
        return None
    with av.open(str(path)) as container:
        return round(float(container.duration / 1_000_000), 2)


# ------------------------------------------------------------------ identities


def recorder_figures(
    name: str, identity: str, folder: Path, code: int | None, sessions: int | None = None
) -> dict[str, Any]:
    figures: dict[str, Any] = {"recorder": name, "identity": identity}
    if code is not None:
        figures["exit"] = code
    if sessions is not None:
        figures["sessions"] = sessions
    figures["kept_s"] = archive_s(folder)
    figures["segments_kept"] = any(folder.glob("lecturer_video-*.mkv"))
    return figures


async def identities(work: Path, lesson_s: float) -> dict[str, Any]:
    async with InProcessHub(
        work / "hub",
        recorder={"disk_floor_mb": 0, "thumbnail_every_s": 10.0},
        signaling={"joins_per_minute": 1000, "max_recorders_per_lesson": 3},
    ) as hub:
        async with lesson_taught(hub.url) as (admin, lesson, _):
            teaching = time.monotonic()
            service = hub.recorder
            await eventually(lambda: lesson.lesson_id in service.active, timeout=15)
            path = f"/api/lessons/{lesson.lesson_id}/recorder-token"
            token = (await admin.post(path))["token"]
            room = hub.services.lessons.rooms[lesson.lesson_id]
            first = await start_recorder(hub.url, token, work / "token-a")
            await eventually(lambda: sum(m.hidden for m in room.members.values()) == 2, 20)
            same = await start_recorder(hub.url, token, work / "token-a-again")
            await eventually(lambda: sum(m.hidden for m in room.members.values()) == 3, 20)
            started = time.monotonic()
            pest_token = (await admin.post(path))["token"]
            pest = LessonClient(hub.url, pest_token)
            await pest.connect({})  # the third from outside: the lesson's limit
            extra = await start_recorder(hub.url, (await admin.post(path))["token"], work / "x")
            extra_code, _ = await recorder_exit(extra, timeout=60)
            await pest.close()
            accepted = refused = 0
            closed_same = False
            while time.monotonic() - started < lesson_s:
                pest = LessonClient(hub.url, pest_token)
                try:
                    await pest.connect({})
                    accepted += 1
                except Exception:
                    refused += 1
                finally:
                    await pest.close()
                if not closed_same and time.monotonic() - started > lesson_s / 2:
                    # The hub closes the second recorder of the token mid-lesson.
                    victims = [
                        m for m in room.members.values() if m.hidden and "hub" not in m.grant.sub
                    ]
                    victims[-1].close(ErrorCode.TOKEN_REVOKED, "closed by the benchmark")
                    closed_same = True
                await asyncio.sleep(0.5)
            own_sessions = len(service.active[lesson.lesson_id].sessions)
            await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
            taught = time.monotonic() - teaching
            codes = [await recorder_exit(p, timeout=120) for p in (first, same)]
            await wait_recording(admin.http, lesson.lesson_id, "ready", 120)
        own = next(p for p in hub.settings.effective_recordings_dir.iterdir() if p.is_dir())
    # Which of the two processes was closed is whichever joined last: read it from the codes.
    by_code = {c: d for (c, _), d in zip(codes, ("token-a", "token-a-again"), strict=True)}
    return {
        "lesson_s": round(taught, 1),
        "recorders": [
            recorder_figures("hub's own", "recorder-<lesson>-hub-<node>", own, None, own_sessions),
            recorder_figures("recorder record, token A", "token A", work / "token-a", codes[0][0]),
            recorder_figures(
                "recorder record, token A again", "token A", work / "token-a-again", codes[1][0]
            ),
            {"recorder": "one too many (limit 3)", "identity": "token C", "exit": extra_code},
            {
                "recorder": "rejoining holder of token B",
                "identity": "token B",
                "joins_accepted": accepted,
                "joins_refused": refused,
            },
        ],
        "closed_mid_lesson": by_code.get(3),
    }


# ------------------------------------------------------------------ full disk


async def disk_full_trial(work: Path, left_kb: int) -> dict[str, Any]:
    with small_disk(work / "recordings", 4096) as disk:
        ballast = fill_until(disk, left_kb * 1024)
        async with InProcessHub(
            work / "hub",
            recordings_dir=disk,
            recorder={
                "disk_floor_mb": 0,
                "finalize_retry_s": 1.0,
                "thumbnail_every_s": 5.0,
                "resume_free_mb": 1024,
            },
        ) as hub:
            async with lesson_taught(hub.url) as (admin, lesson, lecturer):
                service = hub.recorder
                await recording_stopped(lecturer, timeout=120)
                told_wall = time.time()
                writer = service.active[lesson.lesson_id].sessions[-1].writer
                recorded = writer.failed_at - (writer.first_t or 0.0)
                told_after = told_wall - (writer.journal.epoch + writer.failed_at)
                await asyncio.sleep(2.0)
                await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
                waiting = await wait_recording(admin.http, lesson.lesson_id, "finalizing", 60)
                await asyncio.sleep(2.0)  # a retry or two on the full disk
                freed = time.monotonic()
                ballast.unlink()
                rec = await wait_recording(admin.http, lesson.lesson_id, "ready", 120)
                ready_after = time.monotonic() - freed
            folder = next(p for p in disk.iterdir() if p.is_dir())
            kept = archive_s(folder) or 0.0
    return {
        "recorded_before_full_s": round(recorded, 2),
        "kept_s": kept,
        "lost_s": round(recorded - kept, 2),
        "lecturer_told_after_s": round(told_after, 2),
        "state_while_full": waiting["state"],
        "ready_after_space_freed_s": round(ready_after, 1),
        "partial": rec["partial"],
        "note": rec["note"],
    }


async def disk_full(work: Path, trials: int) -> dict[str, Any]:
    if os.geteuid() != 0:
        return {"skipped": "needs root to mount a tmpfs"}
    runs = []
    for trial in range(trials):
        figures = await disk_full_trial(work / f"trial-{trial}", 400 + 300 * trial)
        log(f"disk_full trial {trial}: {json.dumps(figures)}")
        runs.append(figures)
    return {
        "trials": runs,
        "median_lost_s": rounded(statistics.median(r["lost_s"] for r in runs), 2),
        "max_lost_s": max(r["lost_s"] for r in runs),
    }


# ------------------------------------------------------------------ Redis outage


async def redis_outage_run(work: Path, outage_s: float, reconcile_s: float) -> dict[str, Any]:
    server, a, b = await start_cluster(
        work, 6, STREAMHUB_RECONCILE_EVERY_S=str(reconcile_s), STREAMHUB_RECORDER__ENABLED="false"
    )
    on_a, on_b = AdminApi(a.url), AdminApi(b.url)
    clients: list[LessonClient] = []
    applied: dict[str, float] = {}
    try:
        lesson = await on_a.lesson(classrooms=2)
        lecturer = await lecturer_teaching(a.url, lesson.lecturer_token, 160, 120)
        clients.append(lecturer)
        revoked_room = LessonClient(a.url, await on_a.device_token(lesson.credentials[0]))
        await revoked_room.connect({})
        clients.append(revoked_room)
        credential_id = int(lesson.credentials[0].split("_")[1])

        async def watch(name: str, client: LessonClient) -> None:
            await eventually(lambda: client.closed is not None, timeout=outage_s + 60)
            applied[name] = time.monotonic()

        watchers = [
            asyncio.create_task(watch("revoke", revoked_room)),
            asyncio.create_task(watch("end", lecturer)),
        ]
        await asyncio.to_thread(server.stop)
        down = time.monotonic()
        await asyncio.sleep(5.0)
        revoke = await on_b.http.delete(f"/api/device-credentials/{credential_id}")
        revoked_at = time.monotonic()
        await asyncio.sleep(max(0.0, down + 10.0 - time.monotonic()))
        end = await on_b.http.post(f"/api/lessons/{lesson.lesson_id}/end")
        ended_at = time.monotonic()
        await asyncio.sleep(max(0.0, down + outage_s - time.monotonic()))
        await asyncio.to_thread(server.start)
        back = time.monotonic()
        await asyncio.gather(*watchers)
    finally:
        for client in clients:
            await client.close()
        await on_a.close()
        await on_b.close()
        await stop_cluster(server, a, b)
    return {
        "reconcile_every_s": reconcile_s,
        "outage_s": round(back - down, 1),
        "revoke_status": revoke.status_code,
        "end_status": end.status_code,
        "revoke_applied_after_call_s": round(applied["revoke"] - revoked_at, 2),
        "end_applied_after_call_s": round(applied["end"] - ended_at, 2),
        "revoke_applied_after_redis_back_s": round(applied["revoke"] - back, 2),
        "end_applied_after_redis_back_s": round(applied["end"] - back, 2),
        "applied_during_outage": max(applied.values()) < back,
    }


async def redis_outage(work: Path, outage_s: float) -> dict[str, Any]:
    runs = {}
    for label, reconcile_s in (("catalog_check", 3.0), ("on_reconnect_only", 300.0)):
        figures = await redis_outage_run(work / label, outage_s, reconcile_s)
        log(f"redis_outage {label}: {json.dumps(figures)}")
        runs[label] = figures
    return runs


# ------------------------------------------------------------------ main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"load_before": round(load_average(), 2)}
    with tempfile.TemporaryDirectory(prefix="bench-data-loss-") as tmp:
        work = Path(tmp)
        sections = args.sections.split(",")
        if "identities" in sections:
            result["identities"] = await identities(work / "identities", args.lesson)
            log(f"identities: {json.dumps(result['identities'])}")
        if "disk_full" in sections:
            result["disk_full"] = await disk_full(work / "disk", args.trials)
        if "redis_outage" in sections:
            result["redis_outage"] = await redis_outage(work / "redis", args.outage)
    result["load_after"] = round(load_average(), 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="identities,disk_full,redis_outage")
    parser.add_argument("--lesson", type=float, default=20.0, help="identities lesson, s")
    parser.add_argument("--trials", type=int, default=3, help="disk-full trials")
    parser.add_argument("--outage", type=float, default=20.0, help="Redis outage, s")
    args = parser.parse_args()
    os.environ.setdefault("STREAMHUB_LOG_JSON", "false")
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
