"""A lesson recorded by the real recorder plays in the library, in Chromium, and seeks."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.recorder.conftest import recording_hub, wait_recording  # noqa: F401
from tests.support.hub import ADMIN_KEY, AdminApi, InProcessHub
from tests.support.lecturer import lecturer_teaching
from tests.web.fixtures_admin import BrowserPage, staff_page_fixture  # noqa: F401

pytestmark = pytest.mark.browser


async def test_recorded_lesson_plays_and_seeks_in_the_library(
    hub: InProcessHub, admin: AdminApi, staff_page: BrowserPage
) -> None:
    lesson = await admin.lesson(classrooms=1, title="Recorded fractions")
    lecturer = await lecturer_teaching(hub.url, lesson.lecturer_token)
    await asyncio.sleep(8)
    await admin.post(f"/api/lessons/{lesson.lesson_id}/end")
    await lecturer.close()
    recording = await wait_recording(admin.http, lesson.lesson_id)

    page = staff_page.page
    await page.goto(f"{hub.url}/library?lang=en")
    await page.get_by_label("Staff token or admin key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Sign in").click()
    card = page.locator(f'.rec-card[data-id="{recording["id"]}"]')
    await expect(card).to_contain_text("Recorded fractions")
    await expect(card.locator("img")).to_have_js_property("complete", True)
    assert await card.locator("img").evaluate("img => img.naturalWidth") > 0, "poster loads"
    await page.get_by_role("button", name="Play Recorded fractions").click()

    video = page.locator("#video")
    await expect(video).to_have_js_property("readyState", 4, timeout=20_000)
    duration = await video.evaluate("v => v.duration")
    assert abs(duration - recording["duration_s"]) < 1.0
    assert await video.evaluate("v => v.videoWidth") == 320
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    start = await video.evaluate("v => v.currentTime")
    await page.wait_for_timeout(1500)
    assert await video.evaluate("v => v.currentTime") > start + 0.5, "playback advances"

    middle = duration / 2
    await video.evaluate(
        """(v, t) => new Promise((done) => {
             v.addEventListener("seeked", () => done(), { once: true });
             v.currentTime = t;
           })""",
        middle,
    )
    assert abs(await video.evaluate("v => v.currentTime") - middle) < 0.5
    await page.wait_for_timeout(1000)
    after = await video.evaluate("v => v.currentTime")
    assert after > middle + 0.3, "it plays on from the middle"
    await staff_page.screenshot("library-replay")
    assert staff_page.console_errors == []
