"""`streamhub serve --demo` (what `make run` starts) prints links that work."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack
from streamhub.protocol import Slot
from tests.support.net import free_port


async def test_serve_demo_prints_working_lecturer_and_agent_links(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHUB_")}
    env["STREAMHUB_DATA_DIR"] = str(tmp_path / "data")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamhub", "serve", "--port", str(port), "--demo",
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while not any("browser classroom" in line for line in lines):
            raw = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert raw, "the hub exited before printing its links"
            lines.append(raw.decode().strip())
        text = "\n".join(lines)
        admin_key = (tmp_path / "data" / "admin_key").read_text().strip()
        assert admin_key in text, "a generated admin key is printed"
        lecturer_url = next(x for x in lines if "/lesson/" in x and "#token=" in x)
        command = next(x for x in lines if "enroll --hub" in x)
        code = re.search(r"/lesson/([A-Z0-9]+)#", lecturer_url)
        assert code is not None
        base = f"http://127.0.0.1:{port}"
        token = lecturer_url.split("#token=")[1]
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            page = await http.get(f"/lesson/{code.group(1)}")
            assert page.status_code == 200 and "<html" in page.text.lower()
            lesson = await http.get(
                f"/api/lessons/by-code/{code.group(1)}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert lesson.json()["status"] == "live"

        # The printed agent command, pasted in another folder: install what the agent needs
        # (quick here: it is installed), enroll, then run joins the live demo lesson by itself.
        install, enroll, run = (shlex.split(part) for part in command.split(" && "))
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        for step in (install, enroll):
            done = await asyncio.create_subprocess_exec(*step, env=env, cwd=elsewhere)
            assert await asyncio.wait_for(done.wait(), 300) == 0, step
        lecturer = LessonClient(base, token)
        await lecturer.connect({Slot.CAMERA: PatternVideoTrack(160, 120)})
        agent = await asyncio.create_subprocess_exec(
            *run, "--display", "none", "--audio-output", "none",
            "--video-source", "testpattern", "--audio-source", "tone",
            env=env, cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                for _ in range(200):
                    people = (
                        await http.get(
                            f"/api/lessons/{lesson.json()['id']}/participants",
                            headers={"Authorization": f"Bearer {token}"},
                        )
                    ).json()
                    if any(p["role"] == "classroom" for p in people):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the agent never joined the demo lesson")
        finally:
            agent.send_signal(signal.SIGTERM)
            await asyncio.wait_for(agent.wait(), 20)
            await lecturer.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 20)
