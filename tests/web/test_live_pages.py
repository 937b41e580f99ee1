"""The live pages in a real Chromium: the lecturer console goes live, a Python classroom and a
browser classroom see the lecturer, a raised hand reaches the lecturer's tile, the lecturer
brings that classroom on stage and the other classroom sees it; screenshots and a check that
every control has an accessible name."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack
from streamhub.protocol import DeviceHealth, ErrorCode, Slot, StatsReport
from tests.support.frames import first_frame
from tests.support.hub import AdminApi, InProcessHub
from tests.support.wait import eventually

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

VIEWPORT = {"width": 1366, "height": 768}

# Every control and every video needs an accessible name (aria-labelledby, aria-label, a
# <label>, its own text, or a title); returns the ones without.
UNNAMED_CONTROLS = """() => {
  const nameOf = (el) => {
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const text = by.split(/\\s+/).map((id) => document.getElementById(id))
        .filter(Boolean).map((n) => n.textContent.trim()).join(" ").trim();
      if (text) return text;
    }
    const aria = (el.getAttribute("aria-label") || "").trim();
    if (aria) return aria;
    if (el.labels && el.labels.length) {
      const text = [...el.labels].map((l) => l.textContent.trim()).join(" ").trim();
      if (text) return text;
    }
    if (el.tagName === "BUTTON") {
      const text = el.textContent.trim();
      if (text) return text;
    }
    return (el.getAttribute("title") || "").trim();
  };
  return [...document.querySelectorAll("button, input, select, textarea, video, audio[controls]")]
    .filter((el) => el.type !== "hidden" && !nameOf(el))
    .map((el) => el.outerHTML.slice(0, 160));
}"""

VIDEO_STATE = """(id) => {
  const v = document.getElementById(id);
  return {width: v.videoWidth, height: v.videoHeight, time: v.currentTime, paused: v.paused};
}"""


async def open_page(browser: Any, errors: list[str], label: str) -> Any:
    context = await browser.new_context(viewport=VIEWPORT, locale="en-US")
    page = await context.new_page()

    def console(message: Any) -> None:
        if message.type == "error":
            errors.append(f"{label} console: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(f"{label} page error: {exc}"))
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    return page


async def video_advances(page: Any, element_id: str) -> dict[str, Any]:
    """Wait until a <video> shows pictures and its clock moves; return its last state."""
    await page.wait_for_function(
        "(id) => { const v = document.getElementById(id);"
        " return v.videoWidth > 0 && v.currentTime > 0.2; }",
        arg=element_id,
        timeout=20_000,
    )
    before = await page.evaluate(VIDEO_STATE, element_id)
    await asyncio.sleep(1.0)
    after = await page.evaluate(VIDEO_STATE, element_id)
    assert after["time"] > before["time"], (before, after)
    assert not after["paused"]
    return after


async def test_live_lesson_in_the_browser(
    hub: InProcessHub, admin: AdminApi, browser: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    started = time.monotonic()
    lesson = await admin.lesson(classrooms=2, start=False)
    errors: list[str] = []

    # -- the lecturer console: the token leaves the address bar, preview, go live
    lecturer = await open_page(browser, errors, "lecturer")
    await lecturer.goto(f"{hub.url}/lesson/{lesson.code}?lang=en#token={lesson.lecturer_token}")
    await expect(lecturer.locator("#lesson-title")).to_have_text("Fractions")
    assert "token" not in lecturer.url
    assert await lecturer.evaluate("() => Object.keys(sessionStorage).length") == 1
    preview = await video_advances(lecturer, "preview")
    go_live = lecturer.get_by_role("button", name="Go live")
    await expect(go_live).to_be_enabled()
    await go_live.click()
    await expect(lecturer.locator("body")).to_have_attribute("data-state", "live", timeout=15_000)
    await expect(lecturer.locator("#connection")).to_have_text("Live")
    await expect(lecturer.locator("#recording")).to_have_text("Not recording")

    # -- a Python (aiortc) classroom, with the agent's codecs, decodes the lecturer's camera at
    # its own resolution. The lesson is H.264: the browser lecturer came first and can send it.
    python_room = LessonClient(
        hub.url, await admin.device_token(lesson.credentials[0]), codecs=("H264", "VP8", "opus")
    )
    try:
        await python_room.connect({Slot.CAMERA: PatternVideoTrack(320, 240)})
        assert python_room.joined is not None
        codec = python_room.joined.video_codec
        assert codec == "H264"
        frame = await first_frame(python_room.tracks[Slot.LECTURER_VIDEO], codec)
        assert (frame.width, frame.height) == (preview["width"], preview["height"])
        tile1 = lecturer.locator('.tile[data-name="Class 1"]')
        await expect(tile1).to_be_visible(timeout=10_000)
        # -- a classroom PC without projector and camera says so on its tile at a glance
        await python_room.send(
            StatsReport(devices=DeviceHealth(camera="missing", display="missing"))
        )
        await expect(tile1.locator(".problems")).to_have_text(
            "No picture · No camera", timeout=10_000
        )

        # -- a browser classroom plays the lecturer; the lecturer sees its camera in a tile
        classroom = await open_page(browser, errors, "classroom")
        await classroom.goto(
            f"{hub.url}/classroom/{lesson.code}?lang=en#credential={lesson.credentials[1]}"
        )
        assert "credential" not in classroom.url
        await expect(classroom.locator("body")).to_have_attribute(
            "data-state", "live", timeout=15_000
        )
        shown = await video_advances(classroom, "lecturer-video")
        assert shown["width"] > 0
        await expect(classroom.locator("#overlay")).to_be_hidden()
        tile2 = lecturer.locator('.tile[data-name="Class 2"]')
        await expect(tile2).to_be_visible(timeout=10_000)
        await lecturer.wait_for_function(
            """() => { const v = document.querySelector('.tile[data-name="Class 2"] video');
                       return v && v.videoWidth > 0 && v.currentTime > 0.2; }""",
            timeout=20_000,
        )

        # -- a raised hand shows on the lecturer's tile and in the hands list
        await classroom.get_by_role("button", name="Raise hand").click()
        await expect(tile2).to_have_attribute("data-hand", "true", timeout=5_000)
        await expect(tile2.locator(".hand-badge")).to_be_visible()
        await expect(lecturer.locator("#hands li")).to_have_count(1)
        await expect(lecturer.locator("#hands li .hand-name")).to_have_text("Class 2")
        await expect(classroom.get_by_role("button", name="Lower hand")).to_be_visible()

        # -- listening to a classroom
        listen = tile2.get_by_role("button", name="Listen: Class 2")
        await listen.click()
        await expect(listen).to_have_attribute("aria-pressed", "true")

        # -- the Python classroom on stage: the browser classroom shows it beside the lecturer
        await tile1.get_by_role("button", name="Bring on stage: Class 1").click()
        await expect(tile1).to_have_attribute("data-stage", "true", timeout=5_000)
        await expect(classroom.locator("#stage-box")).to_be_visible(timeout=5_000)
        await expect(classroom.locator("#stage-caption")).to_have_text("On stage: Class 1")
        staged_view = await video_advances(classroom, "stage-video")
        assert (staged_view["width"], staged_view["height"]) == (320, 240)
        await classroom.screenshot(path=str(artifacts / "classroom-stage.png"))

        # -- on stage: the other classroom receives the browser classroom's camera
        await tile2.get_by_role("button", name="Bring on stage: Class 2").click()
        await expect(tile2).to_have_attribute("data-stage", "true", timeout=5_000)
        await expect(classroom.locator("#on-stage")).to_be_visible()
        staged = await first_frame(python_room.tracks[Slot.STAGE_VIDEO], codec)
        assert staged.width > 0 and staged.height > 0
        await expect(tile2).to_have_attribute("data-hand", "false")  # staging lowers the hand

        # -- the lecturer mutes the classroom; the page honours it
        await tile2.get_by_role("button", name="Mute: Class 2").click()
        await expect(tile2).to_have_attribute("data-muted", "true", timeout=5_000)
        mic = classroom.locator("#toggle-mic")
        await expect(mic).to_have_attribute("aria-pressed", "true", timeout=5_000)
        assert (
            await classroom.evaluate(
                "() => document.getElementById('self-view').srcObject.getAudioTracks()[0].enabled"
            )
            is False
        )

        # -- chat reaches the classroom
        await lecturer.get_by_label("Message").fill("Open page 12")
        await lecturer.get_by_role("button", name="Send").click()
        await expect(classroom.locator("#banners")).to_contain_text("Open page 12")
        await expect(lecturer.locator("#chat-log")).to_contain_text("Open page 12")

        # -- the classroom answers back: a quick reply shows on its tile until acknowledged,
        # its chat line reaches the lecturer
        await classroom.get_by_role("button", name="Can't hear").click()
        reply = tile2.locator('.tile-replies button[data-reply="cant_hear"]')
        await expect(reply).to_be_visible(timeout=5_000)
        await expect(reply).to_have_text("Can't hear")  # its words beside its icon
        await expect(reply.locator("svg.reply-icon")).to_have_count(1)
        await reply.click()
        await expect(reply).to_have_count(0, timeout=5_000)
        await classroom.locator("#chat-input").fill("Page 12 done")
        # F5 in the chat box asks for help (and does not reload the page, leaving the lesson).
        await classroom.locator("#chat-input").press("F5")
        help_reply = tile2.locator('.tile-replies button[data-reply="help"]')
        await expect(help_reply).to_be_visible(timeout=5_000)
        await help_reply.click()
        await classroom.locator("#chat-form button").click()
        await expect(lecturer.locator("#chat-log")).to_contain_text("Page 12 done")

        # -- a question: on the projector, answered with the room's counts, the lecturer's
        # bars show them, the answer revealed on the projector
        await lecturer.locator("#question-ask summary").click()
        await lecturer.locator("#question-text-input").fill("Which is a prime?")
        await lecturer.get_by_label("Time limit (s)").fill("600")
        await lecturer.get_by_role("button", name="Ask", exact=True).click()
        box = classroom.locator("#question-box")
        await expect(box).to_be_visible(timeout=5_000)
        await expect(box.locator("#question-text")).to_have_text("Which is a prime?")
        # Both count down from the seconds left the hub sent (599 or 600 by now).
        for timer in (box.locator("#question-timer"), lecturer.locator("#question-timer")):
            await expect(timer).to_have_text(re.compile(r"^(599|600) s left$"), timeout=5_000)
        await box.get_by_label("How many chose A").fill("12")
        await box.get_by_label("How many chose B").fill("25")
        await box.locator("#answer-submit").click()
        await expect(box.locator("#question-status")).to_have_text(
            "Your room's answer was sent.", timeout=5_000
        )
        await expect(lecturer.locator("#question-rooms")).to_contain_text("Class 2: A 12, B 25")
        await expect(lecturer.locator("#question-answered")).to_have_text("Answered by 1 classroom")
        await expect(
            lecturer.locator('#question-bars li[data-option="B"] .answer-count')
        ).to_have_text("25")
        await lecturer.locator("#question-correct").select_option("B")
        await lecturer.get_by_role("button", name="Show the answer").click()
        await expect(box.locator("#question-status")).to_have_text(
            "Correct answer: B", timeout=5_000
        )
        await classroom.screenshot(path=str(artifacts / "classroom-question.png"))
        await lecturer.get_by_role("button", name="Close the question").click()
        await expect(box).to_be_hidden(timeout=5_000)
        await expect(lecturer.locator("#question-timer")).to_have_text("")

        # -- screen share: the screen becomes the classroom's main picture, the lecturer inset
        share = lecturer.locator("#share-screen")
        await expect(share).to_have_text("Share screen")
        await share.click()
        await expect(share).to_have_attribute("aria-pressed", "true", timeout=10_000)
        await expect(classroom.locator("body")).to_have_attribute("data-screen", "true")
        screen = await first_frame(python_room.tracks[Slot.SCREEN_VIDEO], codec)
        assert screen.width > 0
        await video_advances(classroom, "screen-video")
        await classroom.screenshot(path=str(artifacts / "classroom-screen-share.png"))
        await lecturer.get_by_role("button", name="Stop sharing").click()
        await expect(classroom.locator("body")).to_have_attribute("data-screen", "false")

        # -- screenshots and accessible names
        await lecturer.screenshot(path=str(artifacts / "lesson-console.png"))
        await classroom.screenshot(path=str(artifacts / "classroom.png"))
        for page in (lecturer, classroom):
            assert await page.evaluate(UNNAMED_CONTROLS) == []
            fits = await page.evaluate(
                "() => [document.documentElement.scrollWidth,"
                " document.documentElement.scrollHeight]"
            )
            assert fits[0] <= VIEWPORT["width"] and fits[1] <= VIEWPORT["height"], (page.url, fits)

        # -- a dropped connection comes back by itself, on both pages
        room = hub.services.lessons.rooms[lesson.lesson_id]
        room.lecturer.close(ErrorCode.MEDIA_LOST, "dropped by the test")
        await lecturer.wait_for_function(
            "() => document.body.dataset.state === 'reconnecting'", timeout=5_000
        )
        await expect(lecturer.locator("#connection")).to_have_text("Live", timeout=15_000)
        frame = await first_frame(python_room.tracks[Slot.LECTURER_VIDEO], codec)
        assert (frame.width, frame.height) == (preview["width"], preview["height"])
        classroom_id = await tile2.get_attribute("data-participant")
        room.members[classroom_id].close(ErrorCode.MEDIA_LOST, "dropped by the test")
        await classroom.wait_for_function(
            "() => document.body.dataset.state === 'reconnecting'", timeout=5_000
        )
        await expect(classroom.locator("body")).to_have_attribute(
            "data-state", "live", timeout=15_000
        )
        await video_advances(classroom, "lecturer-video")
        await expect(lecturer.locator('.tile[data-name="Class 2"]')).to_be_visible(timeout=10_000)
        await lecturer.wait_for_function(
            """() => { const v = document.querySelector('.tile[data-name="Class 2"] video');
                       return v && v.videoWidth > 0; }""",
            timeout=20_000,
        )

        # -- the lecturer ends the lesson; the classroom page says so
        await lecturer.get_by_role("button", name="End lesson").click()
        await lecturer.get_by_role("button", name="End the lesson").click()
        await expect(lecturer.locator("#connection")).to_have_text("Lesson ended", timeout=10_000)
        await expect(classroom.locator("#ended-view")).to_be_visible(timeout=10_000)
        await expect(classroom.locator("#ended-heading")).to_have_text("The lesson has ended.")
        await eventually(lambda: python_room.closed is not None, timeout=10)
    finally:
        await python_room.close()

    assert errors == []
    assert time.monotonic() - started < 120


async def test_live_pages_speak_chinese_and_refuse_without_secrets(
    hub: InProcessHub, browser: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    # Chinese from the browser's language, no ?lang=
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    await page.goto(f"{hub.url}/lesson/NOCODE")
    await expect(page.locator("#notice")).to_have_text(
        "此链接没有访问令牌。请打开发给您的讲师链接。"
    )
    await expect(page.locator("#go-live")).to_have_text("开始直播")
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"
    assert await page.evaluate(UNNAMED_CONTROLS) == []
    await page.screenshot(path=str(artifacts / "lesson-console-zh.png"))
    # Every string exists in both languages, for both pages.
    for name in ("lesson", "classroom"):
        keys = await page.evaluate(
            """async (name) => {
                const en = (await import(`/static/i18n/${name}.en.js`)).default;
                const zh = (await import(`/static/i18n/${name}.zh-CN.js`)).default;
                return [Object.keys(en).sort(), Object.keys(zh).sort()];
            }""",
            name,
        )
        assert keys[0] == keys[1], name
    await context.close()

    # ?lang= wins over the browser's language; no credential, no connection.
    context = await browser.new_context(viewport=VIEWPORT, locale="en-US")
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    await page.goto(f"{hub.url}/classroom/next?lang=zh-CN")
    await expect(page.locator("#overlay-text")).to_have_text(
        "此页面需要教室的设备凭据。请打开发给本教室的链接。"
    )
    await expect(page.get_by_role("button", name="全屏")).to_be_visible()
    assert await page.evaluate(UNNAMED_CONTROLS) == []
    await context.close()
    assert errors == []
