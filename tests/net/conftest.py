"""One county network for the tests of this folder (made once, on first use, by
``tests.support.county``), and Chromium inside a namespace of it: run through a wrapper script,
trusting the test CA through its own NSS database (never ``--ignore-certificate-errors``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.county import County, NamespacedHub, child_env, open_county
from tests.support.lan import Host
from tests.support.netns import NetnsUnavailable
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM

__all__ = ["County", "NamespacedHub", "child_env", "launch_chromium"]


@pytest.fixture(scope="session")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    try:
        with open_county(tmp_path_factory.mktemp("county")) as made:
            yield made
    except NetnsUnavailable as exc:
        pytest.skip(f"network namespaces unavailable here: {exc}")


def nss_home(base: Path, ca: Path) -> Path:
    """A HOME whose NSS database trusts ``ca`` for websites, as a lecturer PC would after
    installing the school's CA."""
    home = base / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    if not (db / "cert9.db").exists():
        subprocess.run(
            ["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, timeout=30
        )
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{db}", "-n", "county-test-ca", "-t", "C,,", "-i",
             str(ca)],
            check=True, timeout=30,
        )  # fmt: skip
    return home


def _chromium_in(host: Host, work: Path, ca: Path | None) -> tuple[Path, dict[str, str]]:
    wrapper = work / f"chromium-{host.namespace}.sh"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {host.namespace} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ)
    env["HOME"] = str(nss_home(work / host.namespace, ca) if ca else work / "plain-home")
    return wrapper, env


async def launch_chromium(playwright: Any, host: Host, work: Path, ca: Path | None) -> Any:
    """Chromium inside ``host``'s namespace (through a wrapper script), trusting ``ca``."""
    wrapper, env = await asyncio.to_thread(_chromium_in, host, work, ca)
    return await playwright.chromium.launch(
        executable_path=str(wrapper), headless=True, args=CHROMIUM_ARGS, env=env
    )


@pytest.fixture
async def playwright() -> AsyncIterator[Any]:
    api = pytest.importorskip("playwright.async_api")
    if not HAVE_CHROMIUM:
        pytest.skip("no chromium at /usr/bin/chromium")
    async with api.async_playwright() as p:
        yield p
