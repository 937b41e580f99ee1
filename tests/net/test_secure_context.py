"""A lecturer PC on the county network: the lecturer page over HTTPS at the hub's LAN address.

Chromium runs in the office namespace and trusts the CA made by `streamhub tls init` through
its NSS database (as a PC where IT installed the school's CA). It opens the lecturer page at
the hub's address over HTTPS, goes live with the fake camera, and a classroom receives the
lecturer's video. The page's own connection check finds UDP and both TURN ways open. Typing the
bare address (plain HTTP, port 80) lands on HTTPS; a hub that serves only plain HTTP on a LAN
address gets a page that explains, in the lecturer's language, why there is no camera.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streamhub.client import LessonClient
from streamhub.protocol import Slot
from tests.net.conftest import County, launch_chromium
from tests.support.county import plain_hub
from tests.support.frames import AGENT_CODECS, first_frame
from tests.support.hub import AdminApi

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(240)]


async def test_lecturer_page_over_https_on_the_lan_goes_live(
    county: County, playwright: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    lan = county.lan
    admin = county.admin()
    browser = await launch_chromium(playwright, lan.office, tmp_path, county.ca)
    classroom: LessonClient | None = None
    try:
        lesson = await admin.lesson(classrooms=1, start=False)
        context = await browser.new_context(locale="en-US")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # The bare address a lecturer types: plain HTTP on port 80, redirected to HTTPS.
        await page.goto(
            f"http://{lan.hub.address}/lesson/{lesson.code}?lang=en#token={lesson.lecturer_token}"
        )
        assert page.url.startswith(f"https://{lan.hub.address}/lesson/{lesson.code}"), page.url
        await expect(page.locator("#lesson-title")).to_have_text("Fractions")
        assert await page.evaluate("() => window.isSecureContext") is True
        await expect(page.locator("#insecure")).to_be_hidden()
        await page.wait_for_function(
            "() => { const v = document.getElementById('preview');"
            " return v.videoWidth > 0 && v.currentTime > 0.2; }",
            timeout=20_000,
        )
        go_live = page.get_by_role("button", name="Go live")
        await expect(go_live).to_be_enabled()
        await go_live.click()
        await expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=20_000)

        # A classroom receives the lecturer's camera from the office PC.
        token = await admin.device_token(lesson.credentials[0])
        classroom = county.client(token, codecs=AGENT_CODECS)
        await classroom.connect()
        assert classroom.joined is not None
        codec = classroom.joined.video_codec
        picture = await first_frame(classroom.tracks[Slot.LECTURER_VIDEO], codec)
        assert picture.width > 0 and picture.height > 0

        # The page's own connection check, from the office: every way is open.
        await page.get_by_role("button", name="Check connection").click()
        verdict = page.locator('#check-lines li[data-check="verdict"]')
        await expect(verdict).to_be_visible(timeout=40_000)
        lines = await page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('#check-lines li')]"
            ".map((li) => [li.dataset.check, li.dataset.status + ' ' + li.textContent]))"
        )
        for check in ("secure", "hub", "udp", "turn_udp", "turn_tls", "camera", "uplink"):
            assert lines[check].startswith("ok "), lines
        assert "straight to the hub over UDP" in lines["verdict"], lines
        assert errors == []
    finally:
        if classroom is not None:
            await classroom.close()
        await browser.close()
        await admin.close()


async def test_plain_http_on_a_lan_address_explains_the_missing_camera(
    county: County, playwright: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    lan = county.lan
    base = f"http://{lan.hub.address}:8000"
    plain = plain_hub(lan.hub, tmp_path / "plain-hub", 8000)
    await asyncio.to_thread(plain.start)
    admin = AdminApi(base)
    browser = await launch_chromium(playwright, lan.office, tmp_path, county.ca)
    try:
        lesson = await admin.lesson(classrooms=1, start=False)
        expected = {
            "en": "Camera and microphone are blocked on this page",
            "zh-CN": "此页面无法使用摄像头和麦克风",
        }
        for lang, heading in expected.items():
            context = await browser.new_context(locale=lang)
            page = await context.new_page()
            await page.goto(
                f"{base}/lesson/{lesson.code}?lang={lang}#token={lesson.lecturer_token}"
            )
            assert page.url.startswith("http://"), "a hub without HTTPS has nowhere to redirect"
            assert await page.evaluate("() => window.isSecureContext") is False
            explanation = page.locator("#insecure")
            await expect(explanation).to_be_visible(timeout=15_000)
            await expect(explanation.locator("h2")).to_have_text(heading)
            await expect(page.locator("#insecure-url")).to_have_text(base)
            await expect(page.locator("#device-error")).to_have_text(heading)
            await expect(page.locator("#lesson-title")).to_have_text("Fractions")
            # Going live with no camera and no microphone is not offered.
            await expect(page.locator("#go-live")).to_be_disabled()
            await context.close()
    finally:
        await browser.close()
        await admin.close()
        await asyncio.to_thread(plain.stop)
