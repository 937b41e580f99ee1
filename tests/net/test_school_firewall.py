"""A school whose firewall drops all UDP and every TCP connection except to port 443.

The hub (HTTPS on 443) and coturn (TLS on 443 of the TURN address) run in the hub's namespace;
the school's namespace has an nftables firewall. A classroom agent there joins a lesson through
`turns:` on its own (the hub hands out the TURN/UDP URL first), receives the lecturer at 25 fps
or more, and the lecturer receives its camera. A browser classroom in the same namespace does
the same; `classroom-agent doctor` there says "UDP blocked, TURN over TLS works" and the hub
shows that result to admins.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import pytest

from classroom_agent.config import AgentConfig, save_config
from streamhub.client import LessonClient
from tests.net.conftest import County, child_env, launch_chromium
from tests.support.lan import Host
from tests.support.wait import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def received_fps(path: Path, skip_s: float = 2.0) -> tuple[float, int]:
    """Frames per second of the recorded video after its first ``skip_s``, and frame count."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = sorted(
            float(p.pts * p.time_base)
            for p in container.demux(stream)
            if p.pts is not None and p.size
        )
    times = [t for t in times if t >= times[0] + skip_s] if times else []
    if len(times) < 2:
        return 0.0, len(times)
    return (len(times) - 1) / (times[-1] - times[0]), len(times)


async def tile_frames(client: LessonClient, seconds: float) -> int:
    """Video packets received on the lecturer's classroom tiles during ``seconds``."""
    counted = 0

    async def count(track: Any) -> None:
        nonlocal counted
        while True:
            await track.recv()
            counted += 1

    tasks = [
        asyncio.ensure_future(count(track))
        for mid, track in client.tile_tracks.items()
        if track.kind == "video"
    ]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counted


def start_agent(
    host: Host, config: Path, code: str, record: Path, log: Path
) -> subprocess.Popen[bytes]:
    """`classroom-agent join` inside ``host``'s namespace, headless, with test sources."""
    return subprocess.Popen(
        [*host.exec_prefix(), sys.executable, "-m", "classroom_agent", "--config", str(config),
         "join", "--lesson", code, "--display", "none", "--audio-output", "none",
         "--video-source", "testpattern", "--audio-source", "tone", "--ice-host", "auto",
         "--record-received", str(record), "--log-file", str(log)],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def test_a_udp_blocked_school_runs_a_lesson_through_turn_over_tls(
    county: County, playwright: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    lan = county.lan
    await asyncio.to_thread(lan.block_udp, lan.school)
    admin = county.admin()
    agent: subprocess.Popen[bytes] | None = None
    lecturer: LessonClient | None = None
    browser = None
    try:
        lesson = await admin.lesson(classrooms=2)
        lecturer = await county.lecturer(lesson.lecturer_token)

        # -- the classroom agent, enrolled with the hub's CA, joins on its own
        config = tmp_path / "agent" / "agent.json"
        save_config(AgentConfig(county.lan_url, lesson.credentials[0], str(county.ca)), config)
        record = tmp_path / "received.mkv"
        log = tmp_path / "agent.log"
        started = time.monotonic()
        agent = await asyncio.to_thread(start_agent, lan.school, config, lesson.code, record, log)
        state_file = config.with_name("state.json")

        def in_lesson() -> bool:
            assert agent is not None and agent.poll() is None, log.read_text()[-3000:]
            state = json.loads(state_file.read_text()) if state_file.exists() else {}
            return state.get("state") == "in_lesson" and record.exists()

        await eventually(in_lesson, timeout=60, interval=0.2)
        joined_s = time.monotonic() - started
        text = log.read_text()
        assert "media connected through turns:" in text and "(relay/tls)" in text, text[-3000:]

        # The lecturer receives the school's camera.
        await eventually(lambda: lecturer.tile_tracks, timeout=30)
        await eventually(lambda: tile_frames(lecturer, 1.0), timeout=30)
        tile_fps = await tile_frames(lecturer, 3.0) / 3.0

        # -- the doctor, in the same school
        doctor = await asyncio.create_subprocess_exec(
            *lan.school.exec_prefix(), sys.executable, "-m", "classroom_agent",
            "--config", str(config), "doctor", "--lang", "en", "--video-source", "testpattern",
            "--audio-source", "tone", "--audio-output", "none", "--display", "none",
            "--bandwidth-seconds", "1",
            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(doctor.communicate(), 90)
        report = out.decode()
        lines = {line[7:19].strip(): line for line in report.splitlines() if line.startswith("[")}
        assert doctor.returncode == 0, report
        assert "UDP blocked" in lines["UDP media"] and "[WARN]" in lines["UDP media"], report
        assert "[ OK ]" in lines["TURN/TLS"], report
        assert "[WARN]" in lines["TURN/UDP"] and "no answer" in lines["TURN/UDP"], report
        assert "certificate trusted" in lines["HTTPS"], report
        assert "upgrade works" in lines["WebSocket"], report
        assert "UDP blocked, TURN over TLS works" in lines["Verdict"], report

        checks = await admin.http.get(
            f"/api/classrooms/{lesson.classroom_ids[0]}/connection-checks"
        )
        latest = checks.json()[0]
        assert latest["ok"] is True
        assert "UDP blocked, TURN over TLS works" in latest["summary"]
        assert {x["check"]: x["status"] for x in latest["lines"]}["turn_tls"] == "ok"

        # Enough received video to judge the frame rate, then the agent stops.
        await eventually(lambda: time.monotonic() - started > joined_s + 10, timeout=30)
        await asyncio.to_thread(_stop, agent)
        fps, frames = await asyncio.to_thread(received_fps, record)
        assert fps >= 25, f"{fps:.1f} fps over {frames} frames through TURN/TLS"
        assert tile_fps >= 10, f"the lecturer got {tile_fps:.1f} fps of the school's camera"

        # -- a browser classroom in the same school
        browser = await launch_chromium(playwright, lan.school, tmp_path, county.ca)
        context = await browser.new_context(locale="en-US")
        page = await context.new_page()
        await page.add_init_script(KEEP_PEER)
        await page.goto(
            f"{county.lan_url}/classroom/{lesson.code}?lang=en#credential={lesson.credentials[1]}"
        )
        # Through TURN over TLS a loaded machine may take a while: a generous deadline.
        await expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=90_000)
        await page.wait_for_function(
            "() => { const v = document.getElementById('lecturer-video');"
            " return v.videoWidth > 0 && v.currentTime > 1.0; }",
            timeout=30_000,
        )
        pair = await page.evaluate(SELECTED_PAIR)
        assert pair["local"] == "relay" and pair["protocol"] == "tls", pair
        # The lecturer sees the browser classroom's camera too (the agent has left: every
        # frame on the tiles now comes from the browser).
        await eventually(lambda: tile_frames(lecturer, 1.0), timeout=30)
        print(
            f"\nUDP-blocked school: agent in lesson after {joined_s:.1f}s, {fps:.1f} fps "
            f"received via TURN/TLS; lecturer got {tile_fps:.1f} fps of its camera"
        )
    finally:
        if browser is not None:
            await browser.close()
        if agent is not None:
            await asyncio.to_thread(_stop, agent)
        if lecturer is not None:
            await lecturer.close()
        await admin.close()
        await asyncio.to_thread(lan.unblock, lan.school)


# The test keeps a handle on the page's peer connection, to read its selected candidate pair.
KEEP_PEER = """(() => {
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.streamhubPeer = pc;
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();"""

SELECTED_PAIR = """async () => {
  const pc = window.streamhubPeer;
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId)
    pair = stats.get(s.selectedCandidatePairId); });
  if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated
    && s.state === 'succeeded') pair = s; });
  const local = stats.get(pair.localCandidateId);
  return {local: local.candidateType, protocol: local.relayProtocol || local.protocol};
}"""
