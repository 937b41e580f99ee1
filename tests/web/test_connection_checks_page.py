"""Admins see a classroom PC's latest `classroom-agent doctor` result on the classroom's pane
of the administration page (the doctor itself runs in tests/net)."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.support.hub import ADMIN_KEY, AdminApi, InProcessHub
from tests.web.fixtures_admin import BrowserPage, staff_page_fixture  # noqa: F401

pytestmark = pytest.mark.browser


async def test_admin_sees_the_classroom_pcs_latest_connection_check(
    hub: InProcessHub, staff_page: BrowserPage
) -> None:
    admin = AdminApi(hub.url)
    try:
        lesson = await admin.lesson(classrooms=1, start=False)
    finally:
        await admin.close()
    report = {
        "ok": True,
        "summary": "UDP blocked, TURN over TLS works: the lesson goes through the TURN relay",
        "lines": [
            {"check": "udp", "status": "warn", "detail": "UDP blocked: no answer"},
            {"check": "turn_tls", "status": "ok", "detail": "TURN over TLS works"},
        ],
        "agent": "classroom-agent doctor",
    }
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        sent = await http.post(
            "/api/device/connection-check",
            json=report,
            headers={"Authorization": f"Bearer {lesson.credentials[0]}"},
        )
        assert sent.status_code == 201, sent.text
        # Not a device's place to fake: unknown fields and oversized reports are refused.
        bad = await http.post(
            "/api/device/connection-check",
            json={**report, "lines": [{"check": "x", "status": "great", "detail": ""}]},
            headers={"Authorization": f"Bearer {lesson.credentials[0]}"},
        )
        assert bad.status_code == 422

    page = staff_page.page
    await page.goto(f"{hub.url}/admin?lang=en")
    await page.get_by_label("Admin key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("tab", name="Classrooms").click()
    await page.get_by_role("button", name="Device credentials of Class 1").click()
    checks = page.locator("#checks")
    await expect(checks.locator("#checks-summary")).to_have_text(report["summary"])
    await expect(checks.locator("#checks-verdict")).to_have_text("Ready")
    await expect(checks.locator('#checks-lines li[data-check="udp"]')).to_have_attribute(
        "data-status", "warn"
    )
    await expect(checks.locator('#checks-lines li[data-check="turn_tls"]')).to_contain_text(
        "TURN over TLS works"
    )
    assert await staff_page.unnamed_controls() == []
    assert staff_page.errors_except() == []
