"""Security headers on every response, and every page of web/ working under its
Content-Security-Policy in a real headless Chromium (issue 13, item 5)."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import ConsoleMessage, expect

from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.web.conftest import browser  # noqa: F401  (the headless Chromium fixture)

PATHS = {
    "/admin": 200,
    "/library": 200,
    "/capsules": 200,
    "/lesson/ABCDEF": 200,
    "/classroom/ABCDEF": 200,
    "/docs": 200,
    "/openapi.json": 200,
    "/static/js/admin.js": 200,
    "/static/css/app.css": 200,
    "/docs/assets/swagger-ui-bundle.js": 200,
    "/healthz": 200,
    "/metrics": 200,
    "/api/schools": 401,
    "/api/nowhere": 404,
    "/static/nothing.js": 404,
}


@pytest.fixture
async def hub(make_hub: HubFactory) -> InProcessHub:
    return await make_hub(recorder={"enabled": False})


def assert_secure(response: httpx.Response) -> None:
    headers = response.headers
    csp = {
        part.strip().split(" ", 1)[0]: part.strip().split(" ", 1)[1]
        for part in headers["content-security-policy"].split(";")
    }
    assert csp["script-src"] == "'self'", csp
    assert csp["style-src"] == "'self'", csp
    assert csp["default-src"] == "'self'", csp
    assert csp["frame-ancestors"] == "'none'", csp
    assert "unsafe" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


async def test_every_kind_of_response_carries_the_headers(hub: InProcessHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        for path, status in PATHS.items():
            response = await http.get(path)
            assert response.status_code == status, (path, response.status_code)
            assert_secure(response)
        # The body guard's own refusals too.
        refused = await http.post("/api/schools", json={"name": "x"})
        assert refused.status_code == 401
        assert_secure(refused)


@pytest.mark.browser
async def test_every_page_works_under_the_policy(
    hub: InProcessHub,
    admin: AdminApi,
    browser: object,  # noqa: F811
) -> None:
    setup = await admin.lesson(classrooms=1)
    pages = {
        "/admin?lang=en": "#admin-key",
        "/library?lang=en": "#signin-form",
        "/capsules?lang=en": "#signin-form",
        f"/lesson/{setup.code}?lang=en#token={setup.lecturer_token}": "text=Raised hands",
        f"/classroom/{setup.code}?lang=en#credential={setup.credentials[0]}": "body",
        "/docs": ".opblock-tag",
    }
    context = await browser.new_context()  # type: ignore[attr-defined]
    try:
        for path, ready in pages.items():
            page = await context.new_page()
            violations: list[str] = []

            def seen(message: ConsoleMessage, into: list[str] = violations) -> None:
                if "Content Security Policy" in message.text or "Refused to" in message.text:
                    into.append(message.text)

            page.on("console", seen)
            await page.goto(f"{hub.url}{path}")
            await expect(page.locator(ready).first).to_be_attached(timeout=15000)
            # An injected inline script does not run.
            ran = await page.evaluate(
                """() => {
                    const s = document.createElement("script");
                    s.textContent = "window.__injected = true";
                    document.head.appendChild(s);
                    return window.__injected === true;
                }"""
            )
            assert ran is False, path
            assert [v for v in violations if "__injected" not in v and "inline" not in v] == [], (
                path,
                violations,
            )
            await page.close()
    finally:
        await context.close()
