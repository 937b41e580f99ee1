"""The admin pages at county scale: how long /admin takes in Debian's Chromium (headless, the
flags of tests/web/conftest.py) against a real hub subprocess whose catalog holds 80 schools,
200 classrooms and 1,000 lessons (the first 55 % taken place, with their registers; the rest
to come), written by bench/county_data.py.

Figures (median and max of --repeat runs, milliseconds), printed as JSON:

- load_to_schools: navigation start (signed in: the key in sessionStorage) to the first
  schools shown; load_to_lessons: navigation start, then the Lessons tab, to its rows shown;
- tabs.<name>: a click on the tab to its content shown (its list emptied first, so only a
  fresh render counts);
- filter.*: the lessons' status filter, the next page of lessons, the classrooms' school
  filter, the fleet's problem filter (each to its rows shown); the invitation picker's text
  search over 200 classrooms (the page's own time in the input handler);
- long_tasks: tasks over 50 ms the page ran during all of it (count, longest, total);
- dom_nodes on the Lessons tab; api.* the JSON routes the tabs call, timed from Python;
- access_names_newest_lesson: the Links tab names the lesson of a link to the term's last
  lesson (it once fetched the first 500 lessons to name them).

    python bench/admin_pages.py
    python bench/admin_pages.py --lessons 5000 --classrooms 400 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.async_api import Page, async_playwright  # noqa: E402

from bench.common import log  # noqa: E402
from bench.county_data import County, seed_county  # noqa: E402
from streamhub.config import load_settings  # noqa: E402
from tests.support.hub import ADMIN_KEY, HubProcess  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

# Long tasks from the page's first moment (the Long Tasks API needs an observer).
OBSERVE_LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push(e.duration);
}).observe({ type: "longtask", buffered: true });
"""

# Each tab: the list it renders (emptied before the click) and what "shown" means.
TABS: dict[str, tuple[str, str]] = {
    "schools": ("schools-body", "#schools-body tr"),
    "classrooms": ("classrooms-body", "#classrooms-body tr"),
    "lessons": ("lessons-body", "#lessons-body tr"),
    "access": ("access-body", "#access-body tr, #access-empty:not([hidden])"),
    "fleet": ("fleet-body", "#fleet-body tr"),
    "feed": ("webhooks-body", "#webhooks-body tr, #webhooks-empty:not([hidden])"),
    "reports": ("reports-body", "#reports-body tr"),
}


def figures(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "max_ms": round(max(samples) * 1000, 1),
    }


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    began = time.perf_counter()
    await action()
    return time.perf_counter() - began


async def fresh(
    page: Page, body_id: str, selector: str, act: Callable[[], Awaitable[Any]]
) -> float:
    """Empty a list, do ``act``, and time it until the list shows something again."""
    await page.evaluate(f"document.getElementById({json.dumps(body_id)}).replaceChildren()")

    async def go() -> None:
        await act()
        await page.wait_for_selector(selector, state="attached", timeout=60_000)

    return await timed(go)


async def one_run(page: Page, url: str, out: dict[str, list[float]]) -> None:
    async def load_schools() -> None:
        await page.goto(f"{url}/admin?lang=en")
        await page.wait_for_selector("#schools-body tr", timeout=60_000)

    out.setdefault("load_to_schools", []).append(await timed(load_schools))

    async def load_lessons() -> None:
        await page.goto(f"{url}/admin?lang=en")
        await page.wait_for_selector("#tab-lessons:not([hidden])")
        await page.wait_for_function("document.body.dataset.ready === 'true'")
        await page.click("#tab-lessons")
        await page.wait_for_selector("#lessons-body tr", timeout=60_000)

    out.setdefault("load_to_lessons", []).append(await timed(load_lessons))
    for name in ("classrooms", "fleet", "reports", "access", "feed", "schools", "lessons"):
        body, selector = TABS[name]
        took = await fresh(page, body, selector, lambda n=name: page.click(f"#tab-{n}"))
        out.setdefault(f"tabs.{name}", []).append(took)
    # On the Lessons tab: filter by status, then the next page.
    await page.click("#tab-lessons")
    await page.wait_for_selector("#lessons-body tr")
    took = await fresh(
        page,
        "lessons-body",
        "#lessons-body tr",
        lambda: page.select_option("#lessons-status-filter", "ended"),
    )
    out.setdefault("filter.lessons_status", []).append(took)
    took = await fresh(
        page,
        "lessons-body",
        "#lessons-body tr",
        lambda: page.click("#lessons-pager button:last-child"),
    )
    out.setdefault("filter.lessons_next_page", []).append(took)
    await page.select_option("#lessons-status-filter", "")
    # The invitation picker: its handler's own time for a search over every classroom.
    handler_ms = await page.evaluate(
        """() => {
          const box = document.getElementById("lesson-room-search");
          const t0 = performance.now();
          box.value = "3年级";
          box.dispatchEvent(new Event("input"));
          const t1 = performance.now();
          box.value = "";
          box.dispatchEvent(new Event("input"));
          return t1 - t0;
        }"""
    )
    out.setdefault("filter.picker_search", []).append(handler_ms / 1000)
    out.setdefault("dom_nodes_lessons_tab", []).append(
        await page.evaluate("document.getElementsByTagName('*').length")
    )
    await page.click("#tab-classrooms")
    await page.wait_for_selector("#classrooms-body tr")
    school = await page.evaluate(
        "document.querySelector('#classrooms-school-filter option:nth-child(3)').value"
    )
    took = await fresh(
        page,
        "classrooms-body",
        "#classrooms-body tr",
        lambda: page.select_option("#classrooms-school-filter", school),
    )
    out.setdefault("filter.classrooms_school", []).append(took)
    await page.click("#tab-fleet")
    await page.wait_for_selector("#fleet-body tr")
    took = await fresh(
        page,
        "fleet-body",
        "#fleet-body tr, #fleet-empty:not([hidden])",
        lambda: page.select_option("#fleet-problem", "not_enrolled"),
    )
    out.setdefault("filter.fleet_problem", []).append(took)
    await page.select_option("#fleet-problem", "")


def _link_for_last_lesson(url: str, lesson_id: int) -> str:
    """Issue a lecturer link to the lesson scheduled last; its title."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:
        http.post(f"/api/lessons/{lesson_id}/lecturer-link").raise_for_status()
        return str(http.get(f"/api/lessons/{lesson_id}").json()["title"])


def api_figures(url: str, repeat: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    today = datetime.now(UTC).date()
    calls = {
        "lessons_page": ("/api/lessons", {"limit": 20}),
        "classrooms_all": ("/api/classrooms", {"limit": 500}),
        "fleet": ("/api/fleet", {}),
        "report_term": (
            "/api/reports/attendance",
            {"from": (today - timedelta(days=120)).isoformat(), "to": today.isoformat()},
        ),
    }
    out: dict[str, Any] = {}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        for name, (path, params) in calls.items():
            took, size = [], 0
            for _ in range(repeat):
                began = time.perf_counter()
                response = http.get(path, params=params)
                took.append(time.perf_counter() - began)
                response.raise_for_status()
                size = len(response.content)
            out[name] = {**figures(took), "bytes": size}
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    county = County(
        schools=args.schools,
        classrooms=args.classrooms,
        lessons=args.lessons,
        term_start=now - timedelta(days=70),
        term_days=126,
        held=0.55,
    )
    with tempfile.TemporaryDirectory(prefix="bench-admin-") as work:
        data_dir = Path(work)
        seeded = await seed_county(load_settings(None, data_dir=data_dir), county)
        log("seeded", seeded)
        hub = HubProcess(data_dir, extra_env={"STREAMHUB_RECORDER__ENABLED": "false"})
        await asyncio.to_thread(hub.start, 60)
        samples: dict[str, list[float]] = {}
        try:
            newest = await asyncio.to_thread(_link_for_last_lesson, hub.url, county.lessons)
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    context = await browser.new_context(viewport={"width": 1366, "height": 768})
                    key = json.dumps(ADMIN_KEY)
                    await context.add_init_script(
                        f"sessionStorage.setItem('streamhub.admin.key', {key});"
                        + OBSERVE_LONG_TASKS
                    )
                    page = await context.new_page()
                    page.set_default_timeout(60_000)
                    long_tasks: list[float] = []
                    for run_number in range(args.repeat):
                        log("run", run_number + 1)
                        await one_run(page, hub.url, samples)
                        long_tasks += await page.evaluate("window.__longTasks")
                    await page.click("#tab-access")
                    await page.wait_for_selector("#access-body tr")
                    access = await page.inner_text("#access-body")
                finally:
                    await browser.close()
            api = await asyncio.to_thread(api_figures, hub.url, args.repeat)
        finally:
            await asyncio.to_thread(hub.stop)
    nodes = samples.pop("dom_nodes_lessons_tab")
    return {
        "county": seeded.__dict__,
        "page": {name: figures(s) for name, s in samples.items()},
        "long_tasks": {
            "count": len(long_tasks),
            "longest_ms": round(max(long_tasks, default=0.0), 1),
            "total_ms": round(sum(long_tasks), 1),
        },
        "dom_nodes_lessons_tab": int(max(nodes)),
        # The Links tab names the lesson of a link to the term's last lesson.
        "access_names_newest_lesson": newest in access,
        "api": api,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=80)
    parser.add_argument("--classrooms", type=int, default=200)
    parser.add_argument("--lessons", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
