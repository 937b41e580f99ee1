"""The RTMP URL and stream key on the admin page's lecturer-link dialog and on the lecturer page,
with copy buttons; the lecturer page says when an RTMP push holds the camera and microphone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.media.test_rtmp import issue_key, publishing, rtmp_settings
from tests.support.hub import ADMIN_KEY, AdminApi, HubFactory, InProcessHub
from tests.support.rtmp import Push
from tests.web.fixtures_admin import BrowserPage, staff_page_fixture  # noqa: F401


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(**rtmp_settings())


async def test_the_lecturer_link_dialog_shows_the_rtmp_url_and_key(
    hub: InProcessHub, admin: AdminApi, staff_page: BrowserPage
) -> None:
    lesson = await admin.lesson(classrooms=0, start=False, title="Optics")
    page = staff_page.page
    await staff_page.page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=hub.url
    )
    await page.goto(f"{hub.url}/admin?lang=en")
    await page.get_by_label("Admin key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("tab", name="Lessons").click()
    await page.get_by_role("button", name="Lecturer link for Optics").click()
    dialog = page.get_by_role("dialog", name="Lecturer link")
    await expect(dialog.locator("#rtmp-section")).to_be_visible()
    # The dialog issued the lesson's key (none existed) and shows the one the API shows.
    key = (await admin.http.get(f"/api/lessons/{lesson.lesson_id}/rtmp")).json()["key"]
    await expect(dialog.get_by_label("RTMP server URL")).to_have_value(key["server_url"])
    await expect(dialog.get_by_label("Stream key")).to_have_value(key["stream_key"])
    await dialog.get_by_role("button", name="Copy key").click()
    assert await page.evaluate("() => navigator.clipboard.readText()") == key["stream_key"]
    assert await staff_page.unnamed_controls() == []
    await dialog.get_by_role("button", name="Close").click()

    # Opening the dialog again shows the same key rather than issuing another.
    await page.get_by_role("button", name="Lecturer link for Optics").click()
    await expect(dialog.get_by_label("Stream key")).to_have_value(key["stream_key"])
    listed = (await admin.http.get("/api/tokens", params={"kind": "rtmp_key"})).json()
    assert len(listed) == 1
    await dialog.get_by_role("button", name="Close").click()
    await page.get_by_role("tab", name="Links and tokens").click()
    row = page.locator("#access-body tr[data-kind='rtmp_key']")
    await expect(row).to_contain_text("RTMP stream key")
    await expect(row).to_contain_text("Lesson Optics")
    assert staff_page.errors_except() == []


async def test_the_lecturer_page_gives_the_key_and_says_when_a_push_holds_the_camera(
    hub: InProcessHub, admin: AdminApi, browser: Any
) -> None:
    lesson = await admin.lesson(classrooms=1, start=False)
    key = await issue_key(admin, lesson)
    context = await browser.new_context(locale="en-US")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=hub.url)
    page = await context.new_page()
    push = Push(key["url"])
    try:
        await page.goto(f"{hub.url}/lesson/{lesson.code}?lang=en#token={lesson.lecturer_token}")
        await page.get_by_text("Teach from a lecture-capture box that pushes RTMP").click()
        await expect(page.locator("#rtmp-url")).to_have_value(key["server_url"])
        await expect(page.locator("#rtmp-key")).to_have_value(key["stream_key"])
        await page.locator("#copy-rtmp-key").click()
        await expect(page.locator("#rtmp-status")).to_have_text("Copied")
        assert await page.evaluate("() => navigator.clipboard.readText()") == key["stream_key"]

        await push.start()
        await publishing(hub, lesson.lesson_id)
        go_live = page.get_by_role("button", name="Go live")
        await expect(go_live).to_be_enabled(timeout=15_000)
        await go_live.click()
        await expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=15_000)
        banner = page.locator("#whip-active")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("come from an RTMP push")
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is not None and room.lecturer is not None  # the page moderates
        await push.stop()
        await expect(banner).to_be_hidden(timeout=10_000)
    finally:
        await push.stop()
        await context.close()
