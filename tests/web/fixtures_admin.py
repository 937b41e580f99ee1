"""Helpers for the staff-page tests (admin, library): a 1366×768 page on the shared headless
Chromium (tests/web/conftest.py) that collects console errors, saves screenshots under
test-artifacts/, and lists controls without an accessible name. Import `staff_page` by name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page

from tests.web.conftest import ARTIFACTS

# Every interactive element must have an accessible name: aria-labelledby, aria-label, a
# <label>, its text, an <img alt> inside it, or a title. Returns the ones without.
UNNAMED_CONTROLS_JS = """
() => {
  const text = (node) => (node ? (node.textContent || "").replace(/\\s+/g, " ").trim() : "");
  const nameOf = (el) => {
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const joined = by.split(/\\s+/).map((id) => text(document.getElementById(id))).join(" ");
      if (joined.trim()) return joined.trim();
    }
    const aria = (el.getAttribute("aria-label") || "").trim();
    if (aria) return aria;
    if (el.labels && el.labels.length) {
      const joined = [...el.labels].map(text).join(" ").trim();
      if (joined) return joined;
    }
    const tag = el.tagName.toLowerCase();
    if (tag === "button" || tag === "a") {
      const own = text(el);
      if (own) return own;
      const img = el.querySelector("img[alt]");
      if (img && img.alt.trim()) return img.alt.trim();
    }
    if (tag === "input" && ["submit", "button", "reset"].includes(el.type) && el.value)
      return el.value;
    return (el.getAttribute("title") || "").trim();
  };
  const controls = document.querySelectorAll("button, input, select, textarea, a[href], video");
  return [...controls]
    .filter((el) => !(el.tagName === "INPUT" && el.type === "hidden"))
    .filter((el) => el.tagName !== "VIDEO" || el.controls)
    .filter((el) => !nameOf(el))
    .map((el) => el.outerHTML.slice(0, 160));
}
"""


@dataclass
class BrowserPage:
    page: Page
    console_errors: list[str] = field(default_factory=list)

    def errors_except(self, *allowed: str) -> list[str]:
        return [e for e in self.console_errors if not any(a in e for a in allowed)]

    async def unnamed_controls(self) -> list[str]:
        result: list[str] = await self.page.evaluate(UNNAMED_CONTROLS_JS)
        return result

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(name="staff_page")
async def staff_page_fixture(browser: Browser) -> AsyncIterator[BrowserPage]:
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-US")
    page = await context.new_page()
    wrapped = BrowserPage(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            wrapped.console_errors.append(f"{message.text} @ {message.location.get('url')}")

    def on_page_error(error: Any) -> None:
        wrapped.console_errors.append(f"pageerror: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.set_default_timeout(10_000)
    try:
        yield wrapped
    finally:
        await context.close()
