"""The lesson library (/library) in a real headless Chromium against a real hub: signing in
with a staff token or the admin key (which can mint staff tokens), the empty state, the
filters and the query they send, clear errors for a wrong token, and the Chinese strings.
the cards of recordings in every state and the player (chapters, thumbnails, stage periods,
speed, download, attendance and its quality summary) on catalog entries and files laid out as
the recorder leaves them. Playback of recordings made by the real recorder comes with it."""

from __future__ import annotations

import asyncio
import json
import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av
import cv2
import numpy as np
import pytest
from playwright.async_api import expect

from streamhub.catalog.replay import Target
from streamhub.protocol import Role
from tests.capsules.archive import make_archive
from tests.support.hub import ADMIN_KEY, AdminApi, InProcessHub
from tests.support.wait import eventually
from tests.web.fixtures_admin import BrowserPage, staff_page_fixture  # noqa: F401

pytestmark = pytest.mark.browser
TOKEN_KEY = "streamhub.library.token"


async def staff_token(admin: AdminApi) -> str:
    return str((await admin.post("/api/tokens/staff"))["token"])


async def sign_in(page: BrowserPage, url: str, token: str) -> None:
    await page.page.goto(url)
    await page.page.get_by_label("Staff token or admin key").fill(token)
    await page.page.get_by_role("button", name="Sign in").click()


async def test_library_sign_in_empty_and_filters(
    hub: InProcessHub, admin: AdminApi, staff_page: BrowserPage
) -> None:
    setup = await admin.lesson(classrooms=2, start=False, title="Algebra")
    grade = await admin.post("/api/grades", {"name": "Grade 7"})
    school_id = (await admin.http.get(f"/api/classrooms/{setup.classroom_ids[0]}")).json()[
        "school_id"
    ]
    token = await staff_token(admin)
    page = staff_page.page
    await page.goto(f"{hub.url}/library?lang=en")
    await expect(page.get_by_role("heading", name="Sign in to the library")).to_be_visible()
    await expect(page.get_by_label("Staff token or admin key")).to_be_focused()
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("library-signin")

    async with page.expect_request(lambda r: "/api/recordings?" in r.url) as first:
        await sign_in(staff_page, f"{hub.url}/library?lang=en", token)
    assert parse_qs(urlsplit((await first.value).url).query) == {
        "limit": ["24"],
        "offset": ["0"],
    }
    await expect(page.get_by_text("Signed in as staff")).to_be_visible()
    await expect(page.get_by_role("button", name="Create staff token")).to_be_hidden()
    empty = page.locator("#empty")
    await expect(empty).to_be_visible()
    await expect(empty).to_contain_text("No recorded lessons yet")
    await expect(page.get_by_role("status").first).to_contain_text("0 recordings")
    assert await page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == token

    # filter choices come from the catalog
    classroom = page.get_by_label("Classroom")
    await expect(classroom.locator("option")).to_have_count(3)
    # The filters' Subject and Grade (the capsule form in the player has its own).
    filters = page.locator("#filters")
    subjects = filters.get_by_label("Subject")
    await expect(subjects.locator("option")).to_have_text(["Any subject", "Mathematics"])
    await expect(filters.get_by_label("Grade").locator("option")).to_have_text(
        ["Any grade", "Grade 7"]
    )
    lecturers = await page.eval_on_selector_all("#lecturers option", "os => os.map(o => o.value)")
    assert lecturers == ["Ms Li"]
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("library-empty")

    # every filter reaches the API; the date range covers whole local days
    await page.get_by_label("Search").fill("Alg")
    await subjects.select_option(label="Mathematics")
    await filters.get_by_label("Grade").select_option(label="Grade 7")
    await page.get_by_label("School").select_option(str(school_id))
    await page.get_by_label("Weekday").select_option(label="Tuesday")
    await page.get_by_label("When").select_option(label="Last week")
    await page.get_by_label("Lecturer").fill("Ms Li")
    await classroom.select_option(str(setup.classroom_ids[1]))
    await page.get_by_label("From date").fill("2026-11-01")
    await page.get_by_label("To date").fill("2026-11-30")
    await page.get_by_label("Sort by").select_option(label="Most re-watched")
    async with page.expect_request(
        lambda r: "/api/recordings?" in r.url and "date_to" in r.url and "q=" in r.url
    ) as filtered:
        await page.get_by_role("button", name="Apply").click()
    query = parse_qs(urlsplit((await filtered.value).url).query)
    assert query["q"] == ["Alg"]
    assert "subject" not in query
    assert query["subject_id"] == [str(await admin.subject("Mathematics"))]
    assert query["grade_id"] == [str(grade["id"])]
    assert query["school_id"] == [str(school_id)]
    assert query["weekday"] == ["2"] and query["period"] == ["last_week"]
    assert query["lecturer"] == ["Ms Li"]
    assert query["classroom_id"] == [str(setup.classroom_ids[1])]
    assert query["sort"] == ["rewatched"]
    date_from = datetime.fromisoformat(query["date_from"][0])
    date_to = datetime.fromisoformat(query["date_to"][0])
    assert date_to - date_from == timedelta(days=30)  # exclusive end: the day after 30 Nov
    assert date_from.tzinfo is not None
    await expect(empty).to_contain_text("No recorded lesson matches these filters")
    # what "last week" meant, in the county's days
    await expect(page.locator("#results-count")).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d to "))
    await expect(page.locator("#list-error")).to_be_hidden()

    async with page.expect_request(lambda r: "/api/recordings?" in r.url) as reset:
        await page.get_by_role("button", name="Reset").click()
    assert "q=" not in (await reset.value).url
    await expect(page.get_by_label("Search")).to_have_value("")
    await expect(empty).to_contain_text("No recorded lessons yet")

    # the session survives a reload; sign-out forgets the token
    await page.reload()
    await expect(page.get_by_text("Signed in as staff")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Staff token or admin key")).to_be_visible()
    assert await page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None
    assert staff_page.console_errors == []


async def test_library_wrong_token_shows_clear_error(
    hub: InProcessHub, admin: AdminApi, staff_page: BrowserPage
) -> None:
    page = staff_page.page
    await sign_in(staff_page, f"{hub.url}/library?lang=en", "eyJhbGciOi.not-a.token")
    alert = page.get_by_role("alert")
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text("Sign-in failed")
    await expect(alert).to_contain_text("This token is not valid")
    await expect(alert).to_contain_text("401")
    await expect(page.locator("#list-view")).to_be_hidden()
    assert await page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None
    await staff_page.screenshot("library-wrong-token")

    # a lecturer's token is valid but is not for the library
    setup = await admin.lesson(start=False)
    await page.get_by_label("Staff token or admin key").fill(setup.lecturer_token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(alert).to_contain_text("not a staff token")
    await expect(alert).to_contain_text("403")
    await expect(page.locator("#list-view")).to_be_hidden()

    # an empty field is refused before any request
    await page.get_by_label("Staff token or admin key").fill("")
    await page.get_by_role("button", name="Sign in").click()
    await expect(alert).to_contain_text("Enter a staff token")
    # the refused requests are logged by Chromium as failed loads; nothing else is
    assert staff_page.errors_except("status of 401", "status of 403") == []


async def test_library_admin_key_mints_staff_token_in_chinese(
    hub: InProcessHub, staff_page: BrowserPage
) -> None:
    page = staff_page.page
    await page.goto(f"{hub.url}/library?lang=zh-CN")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await page.get_by_label("教职员令牌或管理员密钥").fill(ADMIN_KEY)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_text("已使用管理员密钥登录")).to_be_visible()
    await expect(page.locator("#empty")).to_contain_text("还没有录制的课程")
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("library-admin-zh")

    await page.get_by_role("button", name="创建教职员令牌").click()
    dialog = page.get_by_role("dialog", name="教职员令牌")
    await expect(dialog).to_be_visible()
    minted = await dialog.get_by_label("教职员令牌（回放库、录像、考勤）").input_value()
    assert minted.count(".") == 2
    await dialog.get_by_role("button", name="复制教职员令牌").click()
    await expect(dialog.get_by_role("status")).not_to_be_empty()
    await dialog.get_by_role("button", name="关闭").click()
    await expect(dialog).to_be_hidden()

    await page.get_by_role("button", name="退出登录").click()
    await page.get_by_label("教职员令牌或管理员密钥").fill(minted)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_text("已以教职员身份登录")).to_be_visible()
    await expect(page.get_by_role("button", name="创建教职员令牌")).to_be_hidden()
    assert staff_page.console_errors == []


def write_recording_files(directory: Path, seconds: int = 6) -> None:
    """A small H.264 fast-start MP4, a poster, thumbnails and a manifest, as the recorder
    leaves them (only the layout matters here, not how they were made)."""
    directory.mkdir(parents=True)
    container = av.open(str(directory / "lesson.mp4"), "w", options={"movflags": "+faststart"})
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
    for i in range(seconds * 10):
        image = np.full((180, 320, 3), (i * 4) % 255, dtype=np.uint8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
    container.mux(stream.encode(None))
    container.close()
    jpeg = cv2.imencode(".jpg", np.full((90, 160, 3), 90, dtype=np.uint8))[1].tobytes()
    (directory / "poster.jpg").write_bytes(jpeg)
    for i in range(3):
        (directory / f"thumb-{i:03d}.jpg").write_bytes(jpeg)
    manifest = {
        "duration_s": float(seconds),
        "tracks": [{"kind": "video", "codec": "h264", "width": 320, "height": 180}],
        "stage_periods": [{"start_s": 1.0, "end_s": 3.0, "participant": "c1", "name": "Class 1"}],
        "chapters": [
            {"start_s": 0.0, "title": "Introduction"},
            {"start_s": 2.0, "title": "Examples"},
            {"start_s": 4.0, "title": "Questions"},
        ],
        "thumbnails": [{"index": i, "t_s": i * 2.0} for i in range(3)],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))


async def test_library_cards_states_and_player(
    hub: InProcessHub, admin: AdminApi, staff_page: BrowserPage
) -> None:
    catalog = hub.services.catalog
    root = hub.settings.effective_recordings_dir
    ready_lesson = await admin.lesson(start=False, title="Fractions")
    busy_lesson = await admin.lesson(start=False, title="Decimals")
    failed_lesson = await admin.lesson(start=False, title="Geometry")
    write_recording_files(root / "rec-ready")
    ready = await catalog.create_recording(ready_lesson.lesson_id, "rec-ready")
    await catalog.update_recording(
        ready.id, state="ready", progress=1.0, duration_s=6.0, size_bytes=12345
    )
    busy = await catalog.create_recording(busy_lesson.lesson_id, "rec-busy")
    await catalog.update_recording(busy.id, state="finalizing", progress=0.4)
    failed = await catalog.create_recording(failed_lesson.lesson_id, "rec-failed")
    await catalog.update_recording(failed.id, state="failed", failure_reason="disk full")
    lecturer = await catalog.attendance_joined(
        ready_lesson.lesson_id, "lecturer-1", Role.LECTURER, "Ms Li", None
    )
    await catalog.attendance_left(lecturer, 0.93)
    room = await catalog.attendance_joined(
        ready_lesson.lesson_id,
        "classroom-1",
        Role.CLASSROOM,
        "Class 1",
        ready_lesson.classroom_ids[0],
    )
    await catalog.attendance_left(room, 0.31)
    # One replay that played 0-3 s and then 1-3 s again: 5 s watched.
    await catalog.add_watched(Target(recording_id=ready.id), "v" * 16, "k" * 16,
                              [(0.0, 3.0), (1.0, 3.0)])  # fmt: skip

    page = staff_page.page
    await sign_in(staff_page, f"{hub.url}/library?lang=en", ADMIN_KEY)
    cards = page.locator(".rec-card")
    await expect(cards).to_have_count(3)
    await expect(page.locator(f'.rec-card[data-id="{ready.id}"] .views')).to_have_text(
        "1 views · 0:05 watched"
    )
    busy_card = page.locator(f'.rec-card[data-id="{busy.id}"]')
    await expect(busy_card).to_contain_text("Finalizing")
    await expect(busy_card.get_by_role("progressbar")).to_have_attribute(
        "aria-label", re.compile("40%")
    )
    await expect(page.locator(f'.rec-card[data-id="{failed.id}"]')).to_contain_text("disk full")
    ready_card = page.locator(f'.rec-card[data-id="{ready.id}"]')
    await expect(ready_card).to_contain_text("0:06")
    await expect(ready_card.locator("img")).to_have_js_property("complete", True)
    assert await ready_card.locator("img").evaluate("img => img.naturalWidth") == 160
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("library-cards")

    # the search finds a chapter, and says where
    await page.get_by_label("Search").fill("exam")
    await expect(cards).to_have_count(1)
    await expect(ready_card).to_contain_text("Found in the chapter at 0:02: Examples")
    await page.get_by_role("button", name="Reset").click()
    await expect(cards).to_have_count(3)

    # the player: metadata, chapters, thumbnails, speed, download, attendance
    await page.get_by_role("button", name="Play Fractions").click()
    await expect(page.get_by_role("heading", name="Fractions")).to_be_visible()
    video = page.locator("#video")
    await expect(video).to_have_js_property("readyState", 4, timeout=15_000)
    assert abs(await video.evaluate("v => v.duration") - 6.0) < 0.3
    await expect(page.locator("#chapters button")).to_have_count(3)
    await page.get_by_role("button", name="Chapter Questions, at 0:04").click()
    await expect(video).to_have_js_property("currentTime", 4)
    await page.get_by_role("button", name="Seek to 0:02").click()
    await expect(video).to_have_js_property("currentTime", 2)
    await page.get_by_role("button", name="Class 1 on stage from 0:01 to 0:03").click()
    await expect(video).to_have_js_property("currentTime", 1)
    await page.get_by_label("Speed").select_option("1.5")
    await expect(video).to_have_js_property("playbackRate", 1.5)
    href = await page.get_by_role("link", name="Download").get_attribute("href")
    assert href is not None and re.search(rf"/api/recordings/{ready.id}/download\?ticket=", href)
    register = page.locator("#register-body tr")
    await expect(register).to_have_count(1)  # the lesson invited one classroom
    await expect(register).to_contain_text("Class 1")
    await expect(register).to_contain_text("Present")
    await expect(register).to_contain_text("31% · poor")
    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download CSV").click()
    download = await downloading.value
    assert download.suggested_filename == f"lesson-{ready_lesson.lesson_id}-attendance.csv"
    saved = Path(await download.path())
    csv_text = await asyncio.to_thread(saved.read_text, encoding="utf-8-sig")
    header, line = csv_text.splitlines()
    assert header.startswith("classroom_id,name,school,invited,status")
    assert line.startswith(f"{ready_lesson.classroom_ids[0]},Class 1,")
    assert ",present," in line
    rows = page.locator("#attendance-body tr")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="Class 1")).to_contain_text("31% · poor")
    summary = page.locator("#quality-summary")
    await expect(summary).to_contain_text("Participants2")
    await expect(summary).to_contain_text("1 (worst 31%)")
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("library-player")

    # back to the list, then open the failed one and delete it (admin)
    await page.get_by_role("button", name="Back to the library").click()
    await expect(cards).to_have_count(3)
    await expect(video).not_to_have_attribute("src", re.compile("."))
    await page.get_by_role("button", name="Open Geometry (Failed)").click()
    await expect(page.locator("#not-ready")).to_contain_text("The recording failed: disk full")
    await page.get_by_role("button", name="Delete recording").click()
    await page.locator("#confirm-yes").click()
    await expect(cards).to_have_count(2)
    assert not (await hub.services.catalog.recordings_in_state("failed"))
    assert staff_page.console_errors == []


async def test_a_capsule_is_made_from_the_replay_page(
    hub: InProcessHub, admin: AdminApi, staff_page: BrowserPage
) -> None:
    """A chapter's ends fill the capsule form; the capsule is cut, listed and opens on the
    shelf; what the player played is reported as replay data."""
    catalog = hub.services.catalog
    directory = hub.settings.effective_recordings_dir / "rec-capsule"
    write_recording_files(directory)
    make_archive(directory / "lesson.mp4")  # 10 s, a key frame every 2 s, with audio
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["duration_s"] = 10.0
    (directory / "manifest.json").write_text(json.dumps(manifest))
    lesson = await admin.lesson(start=False, title="Fractions")
    grade = await admin.post("/api/grades", {"name": "Grade 5"})
    rec = await catalog.create_recording(lesson.lesson_id, "rec-capsule")
    await catalog.update_recording(rec.id, state="ready", progress=1.0, duration_s=10.0)

    page = staff_page.page
    await sign_in(staff_page, f"{hub.url}/library?lang=en#recording={rec.id}", ADMIN_KEY)
    video = page.locator("#video")
    await expect(video).to_have_js_property("readyState", 4, timeout=15_000)
    form = page.locator("#capsule-form")
    await form.get_by_label("Or a chapter").select_option(label="0:04–0:10 Questions")
    await expect(form.get_by_label("Start (seconds)")).to_have_value("4.0")
    await expect(form.get_by_label("End (seconds)")).to_have_value("10.0")
    await expect(form.get_by_label("Title")).to_have_value("Questions")
    await form.get_by_label("Title").fill("Common mistakes with denominators")
    # Subject and grade from the county's lists; left blank, the lesson's own subject.
    await expect(form.get_by_label("Subject")).to_have_value("")
    await form.get_by_label("Grade").select_option(label="Grade 5")
    await form.get_by_label("Knowledge point").fill("Common denominators")
    await form.get_by_label("Tags").fill("common mistake, fractions")
    await form.get_by_role("button", name="Save capsule").click()
    await expect(form.get_by_role("status")).to_contain_text("copied without re-encoding")
    link = page.locator("#cap-list a")
    await expect(link).to_have_text("Common mistakes with denominators")
    shelf = (await admin.http.get("/api/capsules")).json()["items"]
    assert [(c["source"], c["start_s"], c["tags"]) for c in shelf] == [
        ("chapter", 4.0, ["common mistake", "fractions"])
    ]
    assert (shelf[0]["subject"], shelf[0]["grade"], shelf[0]["grade_id"]) == (
        "Mathematics",
        "Grade 5",
        grade["id"],
    )
    assert abs(shelf[0]["duration_s"] - 6.0) <= 0.1
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("library-capsule")

    # Two seconds played, then paused: the pause sends them.
    await video.evaluate("v => { v.muted = true; v.currentTime = 0; return v.play(); }")
    await expect(video).to_have_js_property("paused", False)

    async def played() -> bool:
        return bool(await video.evaluate("v => v.currentTime > 2"))

    assert await eventually(played, timeout=15)
    await video.evaluate("v => v.pause()")

    async def reported() -> bool:
        replay = (await admin.http.get(f"/api/recordings/{rec.id}/replay")).json()
        return bool(replay["views"] == 1 and replay["watch_s"] >= 1.5)

    assert await eventually(reported, timeout=15), "the player's report never arrived"

    await link.click()  # the shelf, signed in by the same tab
    await expect(
        page.get_by_role("heading", name="Common mistakes with denominators")
    ).to_be_visible()
    await expect(page.locator("#video")).to_have_js_property("readyState", 4, timeout=15_000)
    download = await page.get_by_role("link", name="Download").get_attribute("href")
    assert download is not None and f"/api/capsules/{shelf[0]['id']}/download" in download
    await staff_page.screenshot("capsule-shelf-player")
    assert staff_page.console_errors == []


# The test's own record of what the video played: per stretch, the media time of the first and
# the last time update while playing (the same events the page's WatchReporter follows), so the
# expected figures come from what Chromium actually played, not from wall-clock timings. And at
# each pause, how many batches the page had sent by then (the reporter's own pause listener,
# added before this one, has run: a pause that sends nothing shows, whatever its 15 s timer does).
FOLLOW_JS = """v => {
  v.muted = true;
  window.seen = [];
  window.stopAt = Infinity;
  window.sentAtPause = [];
  v.addEventListener("pause", () => window.sentAtPause.push(Number(v.dataset.watchBatches || 0)));
  v.addEventListener("timeupdate", () => {
    if (v.paused || v.seeking || !window.seen.length) return;
    const stretch = window.seen.at(-1);
    if (stretch[0] === null) stretch[0] = v.currentTime;
    stretch[1] = v.currentTime;
    if (v.currentTime >= window.stopAt) v.pause();
  });
}"""
# Seek to `from` (unless there already), then play; the video pauses itself at `stopAt`.
PLAY_JS = """async (v, [from, stopAt]) => {
  if (Math.abs(v.currentTime - from) > 0.001) {
    await new Promise((done) => {
      v.addEventListener("seeked", () => done(), { once: true });
      v.currentTime = from;
    });
  }
  window.stopAt = stopAt === null ? Infinity : stopAt;
  window.seen.push([null, null]);
  await v.play();
}"""


def heat_bounds(stretches: list[list[float]], seconds: int) -> tuple[list[int], list[int]]:
    """Per second of the timeline, the fewest and the most plays the stretches can give it:
    the page sends each end rounded to 0.1 s and the hub counts whole seconds, so an end
    within 0.1 s of a half second may fall either way."""
    low, high = [0] * seconds, [0] * seconds
    for start, end in stretches:
        for s in range(seconds):
            low[s] += start <= s + 0.4 and end >= s + 0.6
            high[s] += start < s + 0.6 and end > s + 0.4
    return low, high


def js_round(x: float) -> int:
    return math.floor(x + 0.5)  # Math.round, as the page's formatDuration


async def test_replay_data_matches_the_seconds_played(
    hub: InProcessHub, admin: AdminApi, staff_page: BrowserPage
) -> None:
    """Played 0–3 s, then 1–3 s again (paused each time), left, came back and played 6–7.7 s
    and left while playing: views, watch time and the heat per second at the hub match the
    stretches the video played, and the page's heat strip and counts show them."""
    catalog = hub.services.catalog
    directory = hub.settings.effective_recordings_dir / "rec-heat"
    write_recording_files(directory)
    make_archive(directory / "lesson.mp4")  # 10 s, a key frame every 2 s
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["duration_s"] = 10.0
    (directory / "manifest.json").write_text(json.dumps(manifest))
    lesson = await admin.lesson(start=False, title="Re-watched fractions")
    rec = await catalog.create_recording(lesson.lesson_id, "rec-heat")
    await catalog.update_recording(rec.id, state="ready", progress=1.0, duration_s=10.0)

    page = staff_page.page
    await sign_in(staff_page, f"{hub.url}/library?lang=en#recording={rec.id}", ADMIN_KEY)
    video = page.locator("#video")
    cells = page.locator("#heat .heat-cell")
    await expect(video).to_have_js_property("readyState", 4, timeout=15_000)
    await expect(cells).to_have_count(10)  # one per second; nothing played yet
    await video.evaluate(FOLLOW_JS)

    async def play(start: float, stop: float | None) -> None:
        await video.evaluate(PLAY_JS, [start, stop])
        await expect(video).to_have_js_property("paused", stop is not None, timeout=15_000)

    async def replay_matches(views: int, stretches: list[list[float]]) -> dict[str, Any]:
        replay: dict[str, Any] = (await admin.http.get(f"/api/recordings/{rec.id}/replay")).json()
        low, high = heat_bounds(stretches, 10)
        played = sum(end - start for start, end in stretches)
        assert (replay["views"], replay["viewers"], replay["bucket_s"]) == (views, 1, 1), replay
        # Each end is rounded to 0.1 s by the page (and the sum to 0.1 s by the hub).
        assert abs(replay["watch_s"] - played) <= 0.1 * len(stretches) + 0.05, (replay, played)
        assert all(lo <= h <= hi for lo, h, hi in zip(low, replay["heat"], high, strict=True)), (
            replay["heat"], low, high, stretches)  # fmt: skip
        return replay

    # 0–3 s, then back to 1 s and 1–3 s again; each pause sends what was played.
    await play(0.0, 3.0)
    await play(1.0, 3.0)
    first: list[list[float]] = await page.evaluate("window.seen")
    sent = await page.evaluate("window.sentAtPause")
    assert len(sent) == 2 and 1 <= sent[0] < sent[1], f"each pause sends a batch: {sent}"
    played = await video.evaluate(
        "v => Array.from({ length: v.played.length },"
        " (_, i) => [v.played.start(i), v.played.end(i)])"
    )
    # What the video itself says it played covers the stretches the test followed.
    assert all(
        any(a - 0.05 <= start and end <= b + 0.05 for a, b in played) for start, end in first
    ), (first, played)
    replay = await eventually(lambda: replay_matches(1, first), timeout=15)
    assert replay["heat"][2] == 2 == max(replay["heat"]), replay  # 2 s was played twice

    # Back to the library and into the same recording again: a new replay, and the page shows
    # the first one's heat (the re-watched seconds hottest) and counts.
    await page.get_by_role("button", name="Back to the library").click()
    await page.get_by_role("button", name="Play Re-watched fractions").click()
    await expect(video).to_have_js_property("readyState", 4, timeout=15_000)
    summary = page.locator("#replay-summary")
    await expect(summary).to_have_text(
        f"1 views by 1 viewers · 0:{js_round(replay['watch_s']):02d} watched"
    )
    await expect(cells).to_have_count(10)
    shown = await cells.evaluate_all(
        "cs => cs.map((c) => [Number(c.dataset.plays), Number(c.style.opacity)])"
    )
    assert [plays for plays, _ in shown] == replay["heat"]
    opacity = [o for _, o in shown]
    hottest = [s for s, plays in enumerate(replay["heat"]) if plays == 2]
    assert 2 in hottest and all(
        opacity[h] > opacity[s] for h in hottest for s in range(10) if s not in hottest
    ), shown
    assert all(  # hotter seconds are drawn darker, never lighter
        (a[0] > b[0]) == (a[1] > b[1]) for a in shown for b in shown
    ), shown

    # 6 s onwards, then leaving while it plays: closing the player sends the rest.
    await play(6.0, None)
    await eventually(lambda: page.evaluate("window.seen.at(-1)[1] >= 7.7"), timeout=15)
    await page.get_by_role("button", name="Back to the library").click()
    await expect(video).not_to_have_attribute("src", re.compile("."))
    every: list[list[float]] = await page.evaluate("window.seen")
    assert len(every) == 3 and every[:2] == first
    replay = await eventually(lambda: replay_matches(2, every), timeout=15)
    assert replay["heat"][2] == 2 and replay["heat"][7] == 1 and replay["heat"][4] == 0

    # The library's card and the player agree with the hub.
    await page.reload()
    time = f"0:{js_round(replay['watch_s']):02d}"
    await expect(page.locator(f'.rec-card[data-id="{rec.id}"] .views')).to_have_text(
        f"2 views · {time} watched"
    )
    await page.get_by_role("button", name="Play Re-watched fractions").click()
    await expect(summary).to_have_text(f"2 views by 1 viewers · {time} watched")
    await expect(cells).to_have_count(10)
    plays = await cells.evaluate_all("cs => cs.map((c) => Number(c.dataset.plays))")
    assert plays == replay["heat"]
    assert staff_page.console_errors == []
