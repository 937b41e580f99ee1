"""A headless Chromium (Debian's, never a downloaded one) driven by Playwright, with fake
camera and microphone, plus an in-process hub and its admin API for the page tests."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextlib.asynccontextmanager
async def chromium(*switches: str) -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright (skips the test without them). ``switches`` add to
    ``CHROMIUM_ARGS`` or replace the one of the same name (``--switch=value``)."""
    playwright_api = pytest.importorskip("playwright.async_api")
    if not HAVE_CHROMIUM:
        pytest.skip("no chromium at /usr/bin/chromium")
    names = {switch.split("=", 1)[0] for switch in switches}
    args = [arg for arg in CHROMIUM_ARGS if arg.split("=", 1)[0] not in names] + list(switches)
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
