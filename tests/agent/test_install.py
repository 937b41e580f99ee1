"""The README's agent install line, run as written in a fresh venv on a copy of the
repository, gives an agent with a working window, sound and echo canceller, and never two
OpenCV wheels.

pip takes its packages from the machine's configured indexes and wheel cache (PIP_FIND_LINKS),
so this costs what unpacking them costs (about half a minute here), not a download."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from tests.agent.conftest import ROOT
from tests.support.desktop import Desktop
from tests.support.pulse import PulseServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_one_opencv_wheel_ever_and_no_gui_for_the_hub() -> None:
    """The hub, the recorder and the Docker image install the core dependencies: no window
    toolkit there; and no extra brings a second OpenCV wheel next to the headless one (two
    overwrite each other's cv2)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}

    core = names(project["dependencies"])
    assert "opencv-python-headless" in core
    assert not core & {"pygame", "pygame-ce", "opencv-python", "pyside6", "pyqt5", "sounddevice"}
    for extra, requirements in project["optional-dependencies"].items():
        opencv = {n for n in names(requirements) if n.startswith("opencv")}
        assert not opencv, f"the {extra} extra brings {opencv}"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "[agent" not in dockerfile and "pygame" not in dockerfile


def readme_install_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- agent-install[^>]*-->\s*```sh\n(.*?)```", text, re.S)
    assert block, "the README's agent install block is missing"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def copy_of_repository(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    return target


def test_the_readme_install_line_gives_a_working_agent(tmp_path: Path) -> None:
    lines = readme_install_lines()
    apt = [x for x in lines if x.startswith(("sudo ", "apt"))]
    pip = [x for x in lines if x not in apt]
    assert len(apt) == 1 and len(pip) == 2, lines
    # The Debian line: its packages are what the Makefile installs (TEST_DEBS) for the tests.
    for package in apt[0].split("install", 1)[1].split():
        if not package.startswith("-"):
            check = subprocess.run(["dpkg", "-s", package], capture_output=True, check=False)
            assert check.returncode == 0, f"{package} is in the README but not installed"

    source = copy_of_repository(tmp_path / "streamhub")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["HOME"] = str(home)
    started = time.monotonic()
    for line in pip:
        command = line.replace("/path/to/streamhub", str(source))
        done = subprocess.run(
            ["bash", "-c", command], env=env, cwd=home, capture_output=True, text=True,
            timeout=540, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
    print(f"\nagent install from the README: {time.monotonic() - started:.1f}s")
    venv = home / "streamhub-agent"
    python = str(venv / "bin" / "python")

    # One OpenCV, the headless one (the hub's and the recorder's too).
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json"], capture_output=True, check=True, env=env
    ).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    assert {n for n in names if n.startswith("opencv")} == {"opencv-python-headless"}
    assert {"pygame-ce", "pillow", "sounddevice", "livekit"} <= names

    desktop, pulse = Desktop((1024, 768)), PulseServer()
    desktop.start()
    pulse.start()
    try:
        run_env = {**env, **desktop.env(), **pulse.env()}
        listing = subprocess.run(
            [str(venv / "bin" / "classroom-agent"), "devices", "--json"],
            capture_output=True, text=True, env=run_env, timeout=60, check=True,
        ).stdout  # fmt: skip
        devices = json.loads(listing)
        assert any(d["default"] for d in devices["microphones"]), devices
        assert any(d["default"] for d in devices["outputs"]), devices
        assert [s["detail"] for s in devices["screens"]] == ["1024x768"], devices
        # The window opens full screen, and the echo canceller loads.
        probe = (
            "import asyncio, time\n"
            "from classroom_agent.display import WindowDisplay\n"
            "from classroom_agent.echo import EchoCanceller\n"
            "from classroom_agent.health import Health\n"
            "EchoCanceller()\n"
            "async def main():\n"
            "    window = WindowDisplay(lambda key: None, Health())\n"
            "    for _ in range(300):\n"
            "        if window.size: break\n"
            "        await asyncio.sleep(0.1)\n"
            "    print(window.size)\n"
            "    window.close()\n"
            "asyncio.run(main())\n"
        )
        shown = subprocess.run(
            [python, "-c", probe], capture_output=True, text=True, env=run_env, timeout=120,
            cwd=home, check=False,
        )  # fmt: skip
        assert shown.stdout.strip() == "(1024, 768)", shown.stderr[-2000:]
    finally:
        pulse.close()
        desktop.stop()
