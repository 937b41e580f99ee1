"""Attendance reports over a county term: how long `GET /api/reports/attendance` takes, and
how many catalog queries building one costs, for a county of 80 schools, 200 classrooms and
3,000 lessons that took place (with their invitations, ~20,000 sessions and their stretches
in audio only, bench/county_data.py).

Two parts, each with its figures in the printed JSON:

- in process: the catalog read and the registers (``term_sources``: a fixed number of
  queries, counted), the sums (``term_report``) per grouping, median of --repeat runs, and the
  longest the event loop waited for a turn meanwhile (the hub's peers need it every second);
- over HTTP: a real hub subprocess on the seeded catalog (`python -m streamhub serve`), the
  route as JSON (per grouping), CSV and XLSX, median and max of --repeat requests, and the
  response sizes.

    python bench/reports.py
    python bench/reports.py --lessons 6000 --repeat 5
    python bench/reports.py --database-url postgresql+asyncpg://user:pw@127.0.0.1:5432/db
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import event  # noqa: E402

from bench.common import log  # noqa: E402
from bench.county_data import County, seed_county  # noqa: E402
from streamhub.catalog.reports import term_sources  # noqa: E402
from streamhub.catalog.store import Catalog  # noqa: E402
from streamhub.config import Settings, load_settings  # noqa: E402
from streamhub.lesson.term_report import GROUP_BY, term_report  # noqa: E402
from tests.support.hub import ADMIN_KEY, HubProcess  # noqa: E402


def ms(seconds: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


async def _ticker(stalls: list[float], every_s: float = 0.01) -> None:
    while True:
        began = time.perf_counter()
        await asyncio.sleep(every_s)
        stalls.append(time.perf_counter() - began - every_s)


async def in_process(settings: Settings, county: County, repeat: int) -> dict[str, Any]:
    catalog = await Catalog.open(settings)
    start = county.term_start
    stop = start.replace(year=start.year + 1)
    statements: list[str] = []
    event.listen(
        catalog.engine.sync_engine,
        "before_cursor_execute",
        lambda *args: statements.append(args[2]),
    )
    out: dict[str, Any] = {}
    try:
        # The same measure with nothing to do, for scale: a busy machine stalls any loop.
        idle: list[float] = []
        ticking = asyncio.get_running_loop().create_task(_ticker(idle))
        await asyncio.sleep(3.0)
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
        out["loop_max_stall_idle_ms"] = round(max(idle, default=0.0) * 1000, 1)
        stalls: list[float] = []
        ticking = asyncio.get_running_loop().create_task(_ticker(stalls))
        reads, sums = [], {by: [] for by in GROUP_BY}
        groups: dict[str, int] = {}
        for _ in range(repeat):
            statements.clear()
            began = time.perf_counter()
            sources = await term_sources(catalog, start, stop, 300.0, 300.0)
            reads.append(time.perf_counter() - began)
            for by in GROUP_BY:
                began = time.perf_counter()
                found, _totals = await asyncio.to_thread(
                    term_report, sources.held, sources.not_held, sources.classrooms, by
                )
                sums[by].append(time.perf_counter() - began)
                groups[by] = len(found)
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
        out["queries"] = len(statements)
        # The longest the event loop went without a turn while reports were built.
        out["loop_max_stall_ms"] = round(max(stalls, default=0.0) * 1000, 1)
        out["lessons_held"] = len(sources.held)
        out["register_lines"] = sum(len(h.lines) for h in sources.held)
        out["read_and_registers"] = ms(reads)
        out["sums"] = {by: ms(s) for by, s in sums.items()}
        out["groups"] = groups
    finally:
        await catalog.close()
    return out


def over_http(data_dir: Path, env: dict[str, str], county: County, repeat: int) -> dict[str, Any]:
    hub = HubProcess(data_dir, extra_env=env)
    hub.start(60)
    out: dict[str, Any] = {}
    try:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        term = {"from": county.term_start.date().isoformat(), "to": "2027-01-31"}
        with httpx.Client(base_url=hub.url, headers=headers, timeout=120) as http:
            cases = [(f"json_by_{by}", {"by": by}) for by in GROUP_BY]
            cases += [
                ("csv_by_classroom", {"format": "csv"}),
                ("xlsx_by_school", {"by": "school", "format": "xlsx"}),
            ]
            for name, params in cases:
                took = []
                size = 0
                for _ in range(repeat):
                    began = time.perf_counter()
                    response = http.get("/api/reports/attendance", params={**term, **params})
                    took.append(time.perf_counter() - began)
                    response.raise_for_status()
                    size = len(response.content)
                out[name] = {**ms(took), "bytes": size}
    finally:
        hub.stop()
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    county = County(lessons=args.lessons, classrooms=args.classrooms, schools=args.schools)
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as work:
        data_dir = Path(work)
        overrides: dict[str, Any] = {"data_dir": data_dir}
        env: dict[str, str] = {"STREAMHUB_RECORDER__ENABLED": "false"}
        if args.database_url:
            overrides["database_url"] = args.database_url
            env["STREAMHUB_DATABASE_URL"] = args.database_url
        settings = load_settings(None, **overrides)
        began = time.perf_counter()
        seeded = await seed_county(settings, county)
        log("seeded", seeded, f"in {time.perf_counter() - began:.1f} s")
        result: dict[str, Any] = {
            "database": settings.effective_database_url.split(":", 1)[0],
            "county": seeded.__dict__,
            "in_process": await in_process(settings, county, args.repeat),
        }
        result["http"] = await asyncio.to_thread(over_http, data_dir, env, county, args.repeat)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=80)
    parser.add_argument("--classrooms", type=int, default=200)
    parser.add_argument("--lessons", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="PostgreSQL: an empty database")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
