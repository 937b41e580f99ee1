"""`streamhub serve --workers N`: one hub process per core behind one port (streamhub.workers)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from streamhub.client import LessonClient
from streamhub.client.clip import ClipTrack, encode_audio_clip, encode_video_clip
from streamhub.client.session import signaling_url
from streamhub.config import Settings
from streamhub.protocol import Slot
from streamhub.workers import plan
from tests.support.hub import AdminApi, HubProcess, hub_env
from tests.support.net import free_port
from tests.support.wait import eventually

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is installed by `make test`"
)


def test_the_default_is_one_worker_per_core_only_with_shared_state() -> None:
    with_redis = Settings(redis_url="redis://127.0.0.1:6399/0")
    assert plan(with_redis, cores=4).count == 4
    assert plan(Settings(workers=1), cores=4).count == 1
    assert plan(Settings(workers=3, redis_url="redis://x"), cores=2).count == 3


def test_the_rtmp_bridge_keeps_the_hub_in_one_process() -> None:
    rtmp = {"enabled": True}
    chosen = plan(Settings(redis_url="redis://x", rtmp=rtmp), cores=4)  # type: ignore[arg-type]
    assert chosen.count == 1 and "RTMP" in chosen.reason
    with pytest.raises(RuntimeError, match=r"rtmp\.enabled"):
        plan(Settings(workers=3, redis_url="redis://x", rtmp=rtmp), cores=4)  # type: ignore[arg-type]


async def _ready(port: int) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as http:
            return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def _lessons_live(port: int) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("streamhub_lessons_live "))
    return float(line.split()[1])


@needs_redis
@pytest.mark.slow
async def test_two_workers_behind_one_port_spread_lessons_and_each_forwards(
    tmp_path: Path,
) -> None:
    ports = [free_port(), free_port()]
    hub = HubProcess(
        tmp_path / "hub",
        workers=2,
        extra_env={"STREAMHUB_WORKER_PORTS": f"[{ports[0]}, {ports[1]}]"},
    )
    video, audio = encode_video_clip(160, 120, 15, 1, 100), encode_audio_clip(0.2)
    clients: list[LessonClient] = []
    admin: AdminApi | None = None
    try:
        await asyncio.to_thread(hub.start, 60)
        for port in ports:  # each worker on its own port too (registered in the live state)
            await eventually(lambda port=port: _ready(port), timeout=60, interval=0.2)
        admin = AdminApi(hub.url)
        # Two lessons go live together: they land on different workers.
        lessons = [await admin.lesson(classrooms=1, title=f"L{i}") for i in range(2)]
        for lesson in lessons:
            lecturer = LessonClient(hub.url, lesson.lecturer_token)
            clients.append(lecturer)
            await lecturer.connect(
                {Slot.CAMERA: ClipTrack(video), Slot.MICROPHONE: ClipTrack(audio)}
            )
            classroom = LessonClient(hub.url, await admin.device_token(lesson.credentials[0]))
            clients.append(classroom)
            await classroom.connect({})
            # A join that reached the other worker was relayed to the lesson's own one: the
            # clients never leave the hub's port (a school firewall may allow only that one).
            await asyncio.wait_for(classroom.tracks[Slot.LECTURER_VIDEO].recv(), 10)
            assert lecturer.url == classroom.url == signaling_url(hub.url)
        live = [await _lessons_live(port) for port in ports]
        assert live == [1, 1], live
        # The workers are two processes besides the supervisor (and its redis-server).
        assert hub.proc is not None
        ps = ["ps", "-o", "cmd=", "--ppid", str(hub.proc.pid)]
        children = (
            await asyncio.to_thread(subprocess.run, ps, capture_output=True, text=True)
        ).stdout
        assert children.count("--worker-index") == 2
        assert "redis-server" in children
    finally:
        await asyncio.gather(*(c.close() for c in reversed(clients)), return_exceptions=True)
        if admin is not None:
            await admin.close()
        hub.stop()
        hub.kill()


async def test_without_redis_the_readme_command_still_gives_one_working_hub(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = hub_env(tmp_path / "hub", port)
    # No Redis configured and no redis-server to start: one process, and it says why.
    env["PATH"] = str(Path(sys.executable).parent)
    env.pop("STREAMHUB_REDIS_URL", None)
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "streamhub", "serve", "--port", str(port)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await eventually(lambda: _ready(port), timeout=30, interval=0.2)
        assert await _lessons_live(port) == 0
    finally:
        proc.terminate()
        output, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert b"one worker: no redis_url set and no redis-server installed" in output
    # Asking for several without shared state is refused, clearly.
    refused = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streamhub", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2
    assert "need shared live state" in refused.stderr
