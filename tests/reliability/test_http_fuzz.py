"""Schemathesis against the hub's own OpenAPI, as admin, while a lesson is live: no 5xx, and the
classroom keeps receiving the lecturer's frames throughout."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.client.synthetic import PatternVideoTrack, read_counter
from streamhub.protocol import Slot
from tests.media.test_bad_input import latest_counter
from tests.support.hub import AdminApi, InProcessHub, admin_headers

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}
BUDGET_S = 90.0  # past this, remaining operations are skipped (and reported)
MAX_GAP_S = 2.0  # longest pause in the classroom's lecturer video during the fuzz


class Watch:
    """Drains the classroom's lecturer video: newest counter, and the longest gap between
    packets. One decoder throughout: a fresh one decodes nothing until the next keyframe."""

    def __init__(self, client: LessonClient) -> None:
        self.client = client
        self.decoder = FrameDecoder("VP8")
        self.latest = -1
        self.frames = 0
        self.max_gap = 0.0
        self._last = time.monotonic()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self._last = time.monotonic()
        track = self.client.tracks[Slot.LECTURER_VIDEO]
        while not self._stop.is_set():
            try:
                packet = await asyncio.wait_for(track.recv(), 0.5)
            except TimeoutError:
                self.max_gap = max(self.max_gap, time.monotonic() - self._last)
                continue
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - self._last)
            self._last = now
            for frame in self.decoder.decode(packet):
                self.latest = max(self.latest, read_counter(frame))
                self.frames += 1

    def stop(self) -> None:
        self._stop.set()


async def protected_ids(admin: AdminApi, school_id: int, lesson: Any) -> dict[str, set[str]]:
    """Ids whose deletion or change would end the live lesson on purpose, not by a bug."""
    creds: set[str] = set()
    for room in lesson.classroom_ids:
        rows = (await admin.http.get(f"/api/classrooms/{room}/device-credentials")).json()
        creds.update(str(r["id"]) for r in rows)
    return {
        "lesson_id": {str(lesson.lesson_id)},
        "classroom_id": {str(c) for c in lesson.classroom_ids},
        "school_id": {str(school_id)},
        "credential_id": creds,
    }


@dataclass
class Fuzz:
    base_url: str
    protect: dict[str, set[str]]
    session: requests.Session = field(default_factory=requests.Session)
    cases: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    slowest: tuple[float, str, int] = (0.0, "", 0)

    def operation(
        self, operation: Any, mode: GenerationMode, examples: int, auth: dict[str, str]
    ) -> None:
        label = f"{operation.method.upper()} {operation.path}"

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            params = case.path_parameters or {}
            if any(str(params.get(k)) in ids for k, ids in self.protect.items()):
                self.skipped += 1
                return
            started = time.monotonic()
            response = case.call(
                base_url=self.base_url, session=self.session, headers=auth, timeout=10
            )
            code = response.status_code
            self.slowest = max(self.slowest, (time.monotonic() - started, label, code))
            self.cases += 1
            self.statuses[str(code)] = self.statuses.get(str(code), 0) + 1
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except Exception as exc:  # a check failure: collect them all, then report
                self.failures.append(f"{label} [{mode.value}] {code}: {str(exc)[:400]}")

        run()


def fuzz(
    raw_schema: dict[str, Any],
    base_url: str,
    protect: dict[str, set[str]],
    spare_credential: str,
) -> dict[str, Any]:
    """Every operation, positive then negative cases, each call checked by not_a_server_error.

    Runs in a child process (see main): the hub and the lesson's peers stay on the test's event
    loop, and Hypothesis's check that strategies leave the global `random` alone cannot trip
    over aiortc using it from another thread."""
    schema = schemathesis.openapi.from_dict(raw_schema)
    admin = admin_headers()
    device = {"Authorization": f"Bearer {spare_credential}"}
    state = Fuzz(base_url, protect)
    operations = 0
    not_run: list[str] = []
    no_negative: list[str] = []
    deadline = time.monotonic() + BUDGET_S
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        label = f"{operation.method.upper()} {operation.path}"
        # The classroom-PC routes take a device credential (a spare classroom's), the rest admin.
        auth = device if operation.path.startswith("/api/device/") else admin
        for mode, examples in EXAMPLES.items():
            if time.monotonic() > deadline:
                not_run.append(f"{label} {mode.value}")
                continue
            try:
                state.operation(operation, mode, examples, auth)
            except Unsatisfiable:
                # Nothing in this operation can be made invalid (no parameters, no body).
                no_negative.append(label)
    state.session.close()
    return {
        "operations": operations,
        "cases": state.cases,
        "skipped": state.skipped,
        "statuses": state.statuses,
        "failures": state.failures,
        "slowest": state.slowest,
        "not_run": not_run,
        "no_negative": no_negative,
    }


def main() -> None:
    """Child-process entry: the job as JSON on stdin, the stats as JSON on stdout."""
    job = json.load(sys.stdin)
    protect = {k: set(v) for k, v in job["protect"].items()}
    print(json.dumps(fuzz(job["schema"], job["base_url"], protect, job["credential"])))


async def run_fuzz(
    raw_schema: dict[str, Any], base_url: str, protect: dict[str, set[str]], credential: str
) -> Any:
    job = {
        "schema": raw_schema,
        "base_url": base_url,
        "protect": {k: sorted(v) for k, v in protect.items()},
        "credential": credential,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from tests.reliability.test_http_fuzz import main; main()",
        cwd=str(ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(job).encode()), BUDGET_S + 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-3000:]
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_schemathesis_finds_no_server_error_and_the_lesson_goes_on(
    hub: InProcessHub,
) -> None:
    admin = AdminApi(hub.url)
    # A small world for the fuzz to hit (ids 1..n exist), then the live lesson on top of it.
    for _ in range(3):
        spare = await admin.lesson(classrooms=1, start=False)
    lesson = await admin.lesson(classrooms=1)
    school_id = (await admin.http.get(f"/api/classrooms/{lesson.classroom_ids[0]}")).json()[
        "school_id"
    ]
    protect = await protected_ids(admin, school_id, lesson)
    camera = PatternVideoTrack(320, 240)
    lecturer = LessonClient(hub.url, lesson.lecturer_token)
    await lecturer.connect({Slot.CAMERA: camera})
    classroom = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
    await classroom.connect({})
    watch = Watch(classroom)
    watcher: asyncio.Task[None] | None = None
    try:
        before = await latest_counter(classroom, watch.decoder)
        assert before >= 0
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            raw_schema = (await http.get("/openapi.json")).json()
        watcher = asyncio.get_running_loop().create_task(watch.run())
        started = time.monotonic()
        stats = await run_fuzz(raw_schema, hub.url, protect, spare.credentials[0])
        took = time.monotonic() - started
        watch.stop()
        await watcher
        after = await latest_counter(classroom, watch.decoder)
        published = camera.count
        room = hub.services.lessons.rooms.get(lesson.lesson_id)
        print(
            f"\nschemathesis: {stats['operations']} operations, {stats['cases']} cases sent "
            f"({stats['skipped']} skipped: they name the live lesson's own ids) in {took:.1f}s; "
            f"statuses {dict(sorted(stats['statuses'].items()))}; "
            f"no negative case possible: {len(stats.get('no_negative', []))} operations; "
            f"not run (budget): {stats.get('not_run', [])}"
        )
        took_s, op, code = stats["slowest"]
        print(f"slowest call: {op} -> {code} in {took_s * 1000:.0f} ms")
        print(
            f"lesson during fuzz: {watch.frames} frames received, longest gap "
            f"{watch.max_gap:.2f}s; counter before {before}, after {after}, "
            f"lecturer published {published}"
        )
        assert not stats["failures"], "\n".join(stats["failures"][:10])
        assert stats["cases"] >= 10 * stats["operations"], stats["cases"]
        assert after > before
        # Fresh frames, not a backlog: the newest counter is within ~2 s of what was sent.
        assert after >= published - 60, (after, published)
        assert watch.max_gap < MAX_GAP_S, watch.max_gap
        assert room is not None and len(room.members) >= 2
        assert classroom.closed is None and lecturer.closed is None
    finally:
        if watcher is not None and not watcher.done():
            watch.stop()
            await watcher
        await classroom.close()
        await lecturer.close()
        await admin.close()
