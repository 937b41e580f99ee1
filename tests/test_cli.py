"""`streamhub serve --demo` (what `make run` starts), as a newcomer meets it: the banner's lines
to copy are found and work (the lecturer page, the agent command pasted in another folder, the
browser classroom in Chromium), both demo classrooms are in the lesson at once, a restart keeps
their credentials (the enrolled agent comes back by itself), `--demo-reset` issues new ones,
the end of the lesson says where its recording is, a taken port is one line, and `make run`
installs only when pyproject.toml changed."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import logging
import os
import pty
import re
import shlex
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamhub.catalog.store import Catalog
from streamhub.cli import main
from streamhub.config import load_settings
from streamhub.demo import seed_demo
from streamhub.errors import Unauthorized
from streamhub.logs import configure_logging
from tests.support.hub import InProcessHub
from tests.support.net import free_port
from tests.support.wait import eventually
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM

CHECKOUT = Path(__file__).resolve().parents[1]
AGENT_FLAGS = ["--video-source", "testpattern", "--audio-source", "tone",
               "--display", "none", "--audio-output", "none"]  # fmt: skip
AGENT_ROOM = "Demo classroom 1 (agent)"
BROWSER_ROOM = "Demo classroom 2 (browser)"


class Output:
    """Everything a process wrote, as it comes (a terminal's \\r\\n made \\n)."""

    def __init__(self) -> None:
        self.text = ""

    def add(self, data: bytes) -> None:
        self.text += data.decode("utf-8", "replace").replace("\r\n", "\n")

    async def wait_for(self, pattern: str, timeout: float = 60, start: int = 0) -> re.Match[str]:
        found = await eventually(lambda: re.search(pattern, self.text[start:], re.M), timeout)
        assert isinstance(found, re.Match)
        return found


class Hub:
    """A hub process and all it wrote, stdout and stderr in the order written."""

    def __init__(self, proc: asyncio.subprocess.Process, out: Output) -> None:
        self.proc, self.out = proc, out

    async def banner(self) -> list[str]:
        """The lines to copy from the start-up banner: those off the box's rail (a terminal)
        or indented under its prose (anywhere else), between its title and its end."""
        try:
            # A restart on a loaded machine: two workers, the embedded Redis, the agent and the
            # browser classroom reconnecting meanwhile.
            await self.out.wait_for(r"^(╰|  Logs: ).*$", timeout=120)
        except AssertionError as exc:
            raise AssertionError(
                f"no banner (hub exit code {self.proc.returncode}); it wrote:\n"
                f"{self.out.text[-4000:]}"
            ) from exc
        body = self.out.text[self.out.text.index("StreamHub is ready") :]
        lines = body.splitlines()[1:]
        end = next(i for i, x in enumerate(lines) if x.startswith(("╰", "  Logs: ")))
        return [x.strip() for x in lines[:end] if x.startswith("    ") and x.strip()]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 30)


def clean_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHUB_")}
    env["STREAMHUB_DATA_DIR"] = str(data)
    return env


def serve(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "streamhub", "serve", "--port", str(port), "--demo", *extra]


@asynccontextmanager
async def hub_on_a_terminal(port: int, env: dict[str, str]) -> AsyncIterator[Hub]:
    """The hub as `make run` in a terminal window runs it: stdout and stderr a terminal,
    100 columns wide; the terminal is read all along (a full one would stall the hub)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    out = Output()
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            out.add(os.read(master, 65536))
        except OSError:  # the hub closed its end
            loop.remove_reader(master)

    loop.add_reader(master, readable)
    proc = await asyncio.create_subprocess_exec(
        *serve(port), env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    hub = Hub(proc, out)
    try:
        yield hub
    finally:
        await hub.stop()
        loop.remove_reader(master)
        os.close(master)


@asynccontextmanager
async def hub_in_a_pipe(port: int, env: dict[str, str]) -> AsyncIterator[Hub]:
    """The hub as a service runs it: no terminal; stdout and stderr into one pipe."""
    proc = await asyncio.create_subprocess_exec(
        *serve(port), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out = Output()

    async def drain(stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        while data := await stream.read(65536):
            out.add(data)

    reader = asyncio.create_task(drain(proc.stdout))
    hub = Hub(proc, out)
    try:
        yield hub
    finally:
        await hub.stop()
        await reader


def one(lines: list[str], pattern: str) -> str:
    found = [x for x in lines if re.search(pattern, x)]
    assert len(found) == 1, (pattern, lines)
    return found[0]


def credential_of(copyable: str) -> str:
    found = re.search(r"(dc_\d+_[A-Za-z0-9_-]+)", copyable)
    assert found is not None, copyable
    return found.group(1)


async def classrooms_in(http: httpx.AsyncClient, lesson_id: int) -> dict[str, Any]:
    people = (await http.get(f"/api/lessons/{lesson_id}/participants")).json()
    return {p["name"]: p for p in people if p["role"] == "classroom"}


async def both_in_at(http: httpx.AsyncClient, lesson_id: int) -> bool:
    return {AGENT_ROOM, BROWSER_ROOM} <= set(await classrooms_in(http, lesson_id))


async def both_in_at_worker(http: httpx.AsyncClient, lesson_id: int) -> bool:
    """As both_in_at, asked on a worker's own port. Worker 0 prints the banner; the others start
    after it, so on a loaded machine one may not listen yet (a CI run was refused there)."""
    try:
        return await both_in_at(http, lesson_id)
    except httpx.TransportError as exc:
        raise AssertionError(f"worker at {http.base_url} not answering: {exc!r}") from exc


async def test_demo_from_the_banner_with_and_without_a_terminal(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    if not HAVE_CHROMIUM:
        pytest.skip("no chromium at /usr/bin/chromium")
    port = free_port()
    data = tmp_path / "data"
    # Two workers, as on the 2-core machine the defaults are for, whatever this one has.
    env = clean_env(data) | {"STREAMHUB_WORKERS": "2"}
    base = f"http://127.0.0.1:{port}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    agent: asyncio.subprocess.Process | None = None
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            # ---- 1. First start, on a terminal: a box; logs as plain lines, not JSON.
            async with hub_on_a_terminal(port, env) as hub:
                copy = await hub.banner()
                assert "╭─ StreamHub is ready" in hub.out.text and "\n╰" in hub.out.text
                assert re.search(r"^\d\d:\d\d:\d\d INFO ", hub.out.text, re.M)
                assert '{"ts"' not in hub.out.text
                admin_key = (data / "admin_key").read_text().strip()
                assert copy[0] == admin_key, "the new admin key is a line of its own"
                lecturer_url = one(copy, r"/lesson/")
                assert re.fullmatch(re.escape(base) + r"/lesson/[A-Z0-9]+#token=\S+", lecturer_url)
                browser_url = one(copy, r"/classroom/")
                assert re.fullmatch(
                    re.escape(base) + r"/classroom/[A-Z0-9]+#credential=\S+", browser_url
                )
                command = one(copy, r"enroll --hub")
                assert one(copy, r"/library$") == f"{base}/library"
                agent_credential = credential_of(command)
                assert credential_of(browser_url) != agent_credential, "one credential each"
                assert stat.S_IMODE((data / "demo.json").stat().st_mode) == 0o600
                code = browser_url.split("/classroom/")[1].split("#")[0]

                # The printed agent command, pasted in another folder (its install step is
                # quick here: the agent is installed); it picks loopback media by itself.
                install, enroll, run = (shlex.split(part) for part in command.split(" && "))
                for step in (install, enroll):
                    done = await asyncio.create_subprocess_exec(*step, env=env, cwd=elsewhere)
                    assert await asyncio.wait_for(done.wait(), 300) == 0, step
                agent = await asyncio.create_subprocess_exec(
                    *run, *AGENT_FLAGS, env=env, cwd=elsewhere,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                # The printed browser-classroom link, in Chromium with its fake camera.
                context = await browser.new_context()
                page = await context.new_page()
                await page.goto(browser_url)

                headers = {"Authorization": f"Bearer {admin_key}"}
                async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as http:
                    lesson = (await http.get(f"/api/lessons/by-code/{code}")).json()
                    assert lesson["status"] == "live"
                    assert len(lesson["classroom_ids"]) == 2

                    async def both_in() -> bool:
                        return await both_in_at(http, lesson["id"])

                    await eventually(both_in, timeout=90, interval=0.2)
                    # The demo lesson lives in one worker: each worker's own port (port + 1 + i)
                    # tells the same (the live snapshot), not an empty room of its own.
                    for own in (port + 1, port + 2):
                        async with httpx.AsyncClient(
                            base_url=f"http://127.0.0.1:{own}", timeout=10, headers=headers
                        ) as worker:
                            await eventually(
                                lambda w=worker: both_in_at_worker(w, lesson["id"]), timeout=60
                            )
                    rooms = await classrooms_in(http, lesson["id"])
                    assert rooms[AGENT_ROOM]["classroom_id"] != rooms[BROWSER_ROOM]["classroom_id"]
                    # Neither pushed the other out: both are still there a moment later.
                    for _ in range(3):
                        await asyncio.sleep(0.5)
                        assert await both_in()

            # ---- 2. A restart, without a terminal: the same credentials; the agent and the
            # browser classroom come back by themselves; JSON logs; the key is not echoed.
            async with hub_in_a_pipe(port, env) as hub:
                copy = await hub.banner()
                assert "╭" not in hub.out.text
                assert admin_key not in hub.out.text
                assert one(copy, r"^cat ") == f"cat {(data / 'admin_key').resolve()}"
                assert credential_of(one(copy, r"enroll --hub")) == agent_credential
                assert one(copy, r"/classroom/") == browser_url
                logs = [x for x in hub.out.text.splitlines() if x.startswith("{")]
                assert all(json.loads(x)["msg"] for x in logs)
                assert not re.search(r"^\d\d:\d\d:\d\d INFO ", hub.out.text, re.M)
                # Printed once the hub listens, not before.
                listening = hub.out.text.index('"msg": "Uvicorn running on')
                assert listening < hub.out.text.index("StreamHub is ready")
                lecturer_url = one(copy, r"/lesson/")
                async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as http:

                    async def both_back() -> bool:
                        rooms = await classrooms_in(http, lesson["id"])
                        return {AGENT_ROOM, BROWSER_ROOM} <= set(rooms)

                    await eventually(both_back, timeout=90, interval=0.2)

                    # ---- 3. The lesson ends: this terminal and the lecturer page say where
                    # its recording is.
                    mark = len(hub.out.text)
                    ended = await http.post(f"/api/lessons/{lesson['id']}/end")
                    assert ended.status_code == 200
                    where = (await http.get(f"/api/lessons/{lesson['id']}/recordings")).json()
                    assert where and all(
                        r["page"].startswith(f"{base}/library#recording=") for r in where
                    )
                    await hub.out.wait_for(rf"The demo lesson {code} ended", start=mark)
                    said = await hub.out.wait_for(r"^    (\S+#recording=\d+)$", start=mark)
                    assert said.group(1) in {r["page"] for r in where}
                    await hub.out.wait_for(r"the demo lesson ended; its recording: ")
                lecturer = await context.new_page()
                await lecturer.goto(lecturer_url)
                links = lecturer.locator("#ended-recording a[href*='#recording=']")
                await links.first.wait_for(timeout=30_000)
                hrefs = [await a.get_attribute("href") for a in await links.all()]
                assert [base + href for href in hrefs] == [r["page"] for r in where]
        finally:
            if agent is not None and agent.returncode is None:
                agent.send_signal(signal.SIGTERM)
                await asyncio.wait_for(agent.wait(), 20)
            await browser.close()


async def test_demo_credentials_are_kept_until_a_reset(tmp_path: Path) -> None:
    """In-process (the restart with a running agent is above): a second seeding keeps both
    credentials and the lesson; a reset revokes both and issues new ones; the state file is
    owner-only; the one-classroom state of earlier versions becomes the two-classroom demo."""
    data = tmp_path / "hub"
    data.mkdir()
    async with InProcessHub(data, recorder={"enabled": False}) as hub:
        svc = hub.services
        old = await svc.catalog.create_classroom(
            (await svc.catalog.create_school("Old", "")).id, "Demo classroom 1", ""
        )
        issued = await svc.catalog.issue_credential(old.id, "demo")
        (data / "demo.json").write_text(
            json.dumps({"classroom_id": old.id, "lesson_id": 99, "credential_id": issued.id})
        )
        first = await seed_demo(svc)
        assert stat.S_IMODE((data / "demo.json").stat().st_mode) == 0o600
        assert first.agent_classroom.new and first.browser_classroom.new
        assert first.agent_classroom.name == "Demo classroom 1", "the old classroom is kept"
        lesson = await svc.catalog.get_lesson(first.lesson_id)
        assert lesson.status == "live" and len(lesson.classrooms) == 2
        again = await seed_demo(svc)
        assert again.lesson_id == first.lesson_id
        assert not again.agent_classroom.new and not again.browser_classroom.new
        assert again.agent_command == first.agent_command
        assert again.classroom_url == first.classroom_url
        reset = await seed_demo(svc, reset=True)
        assert reset.agent_classroom.new and reset.browser_classroom.new
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            for credential, status in (
                (issued.secret, 401),
                (first.agent_classroom.credential, 401),
                (first.browser_classroom.credential, 401),
                (reset.agent_classroom.credential, 200),
                (reset.browser_classroom.credential, 200),
            ):
                answer = await http.get(
                    "/api/device/lessons", headers={"Authorization": f"Bearer {credential}"}
                )
                assert answer.status_code == status, (credential, answer.text)


def test_logs_go_to_a_file_as_json_lines(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    terminal = io.StringIO()
    try:
        configure_logging("INFO", None, tmp_path / "logs" / "hub.log", stream=terminal)
        logging.getLogger("streamhub.test").info("first\nsecond", extra={"lesson": 7})
        logging.getLogger("streamhub.test").warning("trouble")
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = (tmp_path / "logs" / "hub.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["msg"] for e in entries] == ["first\nsecond", "trouble"]
    assert entries[0]["lesson"] == 7
    assert [json.loads(x)["msg"] for x in terminal.getvalue().splitlines()] == ["trouble"]


def test_a_taken_port_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        for extra, hint in (
            ([], r"streamhub serve --demo --port (\d+)"),
            (["--started-by", "make"], r"make run PORT=(\d+)"),
        ):
            done = subprocess.run(
                serve(port, *extra), env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode != 0
            lines = done.stderr.splitlines()
            assert len(lines) == 1, done.stderr
            found = re.fullmatch(rf"streamhub: port {port} is in use; try `{hint}`", lines[0])
            assert found is not None, lines[0]
            assert int(found.group(1)) != port
            assert done.stdout == ""
    assert not (tmp_path / "data").exists(), "nothing is made before the port is known free"


def test_ctrl_c_while_the_hub_starts_is_a_quiet_stop(tmp_path: Path) -> None:
    # Ctrl+C while `streamhub serve` still imports its modules (seconds on a classroom PC or a
    # busy box): the hub stops without a traceback, with the shell's code for an interrupt.
    # -X importtime reports each module as it is imported: once FastAPI is (only `serve`
    # imports it), the interrupt lands inside the command.
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", *serve(port)[1:]],
        env=clean_env(tmp_path / "data"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        before: list[str] = []
        for line in proc.stderr:
            before.append(line)
            if "fastapi" in line:
                break
        else:
            raise AssertionError("the hub never imported FastAPI:\n" + "".join(before[-20:]))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert proc.returncode == 130, (proc.returncode, err[-3000:])
    assert "Traceback" not in out


def test_a_hub_listening_everywhere_links_to_this_machine() -> None:
    """`make run HOST=0.0.0.0`: links to 0.0.0.0 open no camera (not a secure context)."""
    assert load_settings(None, host="0.0.0.0").effective_public_url == "http://127.0.0.1:8000"
    assert load_settings(None, host="::", port=8010).effective_public_url == "http://[::1]:8010"
    lan = load_settings(None, host="10.1.2.3", public_url="https://hub.county.local")
    assert lan.effective_public_url == "https://hub.county.local"


def test_make_run_installs_only_when_pyproject_changed(tmp_path: Path) -> None:
    """`make run`'s install step (dry run, with a venv of its own): skipped while the stamp is
    newer than pyproject.toml and the C source the install compiles, done, quietly, once
    either is newer."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    stamp = venv / ".installed"
    stamp.touch()
    pyproject = (CHECKOUT / "pyproject.toml").stat().st_mtime
    newest = max(pyproject, (CHECKOUT / "streamhub" / "media" / "_rtpsend.c").stat().st_mtime)

    def dry_run(*options: str) -> str:
        return subprocess.run(
            ["make", "-n", "-C", str(CHECKOUT), *options, "run", f"VENV={venv}"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip

    os.utime(stamp, (newest + 60, newest + 60))
    assert "pip install" not in dry_run()
    # make's "what if this file were new": an edited C source alone reinstalls (recompiles).
    assert "pip install -q -e ." in dry_run("-W", "streamhub/media/_rtpsend.c")
    os.utime(stamp, (pyproject - 60, pyproject - 60))
    again = dry_run()
    assert "pip install -q -e ." in again and "pip.log" in again


def test_account_add_prints_a_sign_in_link_that_works_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first county admin, from the command line: the printed link signs them in once."""
    monkeypatch.setenv("STREAMHUB_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        main(["account", "add", "--email", "Chief@County.cn", "--role", "county_admin",
              "--port", "8010"])  # fmt: skip
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "chief@county.cn (county_admin)" in out
    # The hub of `make run PORT=8010`, where the link is opened.
    secret = re.search(r"http://127\.0\.0\.1:8010/admin#signin=(\S+)", out)
    assert secret is not None, out

    async def redeem_twice() -> tuple[str, bool]:
        catalog = await Catalog.open(load_settings(None))
        try:
            account = await catalog.redeem_sign_in_link(secret[1])
            try:
                await catalog.redeem_sign_in_link(secret[1])
            except Unauthorized:
                return account.role, False
            return account.role, True
        finally:
            await catalog.close()

    assert asyncio.run(redeem_twice()) == ("county_admin", False)
    # The same login again: refused, with one line and a non-zero exit.
    with pytest.raises(SystemExit) as again:
        main(["account", "add", "--email", "chief@county.cn", "--role", "staff"])
    assert again.value.code == 2
    assert "exists" in capsys.readouterr().err
