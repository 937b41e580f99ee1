"""A classroom agent behind a poor link: loss, delay with jitter, rate caps.

The hub runs as a subprocess bound to the root end of a private link; the lecturer publishes
from the root namespace over loopback; the agent runs headless inside a network namespace
whose only link to the hub is impaired (``tests.support.netns``). One agent run goes through
the conditions in sequence; each condition is a time window. Figures per window come from the
agent's ``--record-received`` Matroska file: received video fps, freezes (gaps > 500 ms
between consecutive video frames), audio continuity (share of the window covered by Opus
packets) and the longest audio gap. The audio-only switch is read from the agent's state file
(the hub's participants API does not expose it).

Times: the file's video clock is the hub's re-stamped RTP clock (the hub restarts it one frame
after the last one when it resumes a slot), so each received frame is placed at its send time
by the frame counter PatternVideoTrack stamps into the picture. Audio keeps its own clock,
anchored at arrival. Network rule: the hub listens on the link's root end only; the lecturer
reaches it there (a local address, through loopback) and the agent across the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from classroom_agent.config import AgentConfig, save_config
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack, read_counter
from streamhub.protocol import Slot
from tests.support.hub import AdminApi, HubProcess, admin_headers
from tests.support.netns import ImpairedLink, Impairment, NetnsUnavailable

ROOT = Path(__file__).resolve().parents[2]
FPS = 30
FREEZE_S = 0.5
OPUS_FRAME_S = 0.02


@dataclass(frozen=True)
class Condition:
    name: str
    impairment: Impairment
    seconds: float


def conditions(scale: float = 1.0) -> list[Condition]:
    def c(name: str, seconds: float, **imp: Any) -> Condition:
        return Condition(name, Impairment(**imp), seconds * scale)

    # Usable links first: a lossy window can leave the agent audio-only for a while after it.
    return [
        c("clean", 6),
        c("delay 150±30ms", 8, delay_ms=150, jitter_ms=30),
        c("1 Mbit/s", 8, rate_kbit=1000),
        c("loss 2%", 8, loss_pct=2),
        c("loss 5%", 8, loss_pct=5),
        # The harshest loss a usable link has here: the agent turns audio-only above 10 % for
        # 5 s (streamhub.quality), and at exactly 10 % its 1 s samples (~80 packets, spread
        # about 3 points) sat above that often enough to switch now and then.
        c("loss 8%", 8, loss_pct=8),
        # Downlink only: 5 s of poor samples, the switch; the agent's upload is unaffected.
        c("300 kbit/s down", 18, rate_kbit=300, direction="down"),
        # The agent asks for video again after 10 s of good samples.
        c("recovered", 20),
        # Both ways, as on a real 300 kbit/s line: the agent's own upload competes too.
        c("300 kbit/s", 16, rate_kbit=300),
        c("recovered 2", 25),
    ]


@dataclass
class Figures:
    name: str
    loss_pct: float
    delay_ms: float
    rate_kbit: float | None
    fps: float
    freezes: int
    max_freeze_ms: float
    audio_continuity: float
    max_audio_gap_ms: float
    audio_only: bool  # the agent was audio-only at some point of the window
    audio_only_share: float  # of the window
    audio_only_at_end: bool


@dataclass
class Report:
    figures: list[Figures]
    backend: str
    switches: list[str] = field(default_factory=list)  # the agent's audio-only log lines
    sessions: int = 0
    link_stats: dict[str, Any] = field(default_factory=dict)
    hub_exposes_audio_only: bool | None = None

    def table(self) -> str:
        head = (
            f"{'condition':<16} {'fps':>5} {'freezes':>7} {'max frz ms':>10} "
            f"{'audio %':>7} {'max a-gap ms':>12} {'audio-only':>11}"
        )
        rows = [head, "-" * len(head)]
        for f in self.figures:
            only = f"{100 * f.audio_only_share:.0f}%" + (" (end)" if f.audio_only_at_end else "")
            rows.append(
                f"{f.name:<16} {f.fps:>5.1f} {f.freezes:>7} {f.max_freeze_ms:>10.0f} "
                f"{100 * f.audio_continuity:>7.1f} {f.max_audio_gap_ms:>12.0f} {only:>11}"
            )
        return "\n".join(rows)

    def as_json(self) -> dict[str, Any]:
        keys = (
            "name",
            "loss_pct",
            "delay_ms",
            "rate_kbit",
            "fps",
            "freezes",
            "max_freeze_ms",
            "audio_continuity",
            "audio_only",
        )
        return {"conditions": [{k: asdict(f)[k] for k in keys} for f in self.figures]}


class BoundHub(HubProcess):
    """The hub subprocess, listening on one given address (the link's root end)."""

    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


# ---------------------------------------------------------------- the run


async def run_scenario(work: Path, plan: list[Condition], settle_s: float = 2.0) -> Report:
    """Raise NetnsUnavailable when namespaces cannot be made here."""
    link = ImpairedLink()
    try:
        await asyncio.to_thread(link.open)
        return await _run_with_link(link, work, plan, settle_s)
    finally:
        await asyncio.to_thread(link.close)  # also after a half-made link


async def _run_with_link(
    link: ImpairedLink, work: Path, plan: list[Condition], settle_s: float
) -> Report:
    hub = BoundHub(
        work / "hub",
        extra_env={
            "STREAMHUB_HOST": link.host_address,
            "STREAMHUB_ICE__HOST_ADDRESSES": json.dumps(["127.0.0.1", link.host_address]),
            "STREAMHUB_RECORDER__ENABLED": "false",
            "STREAMHUB_LOG_JSON": "false",
        },
    )
    hub.host = link.host_address
    await asyncio.to_thread(hub.start)
    admin = AdminApi(hub.url)
    lecturer: LessonClient | None = None
    agent: subprocess.Popen[bytes] | None = None
    camera = PatternVideoTrack(320, 240, fps=FPS)
    record = work / "received.mkv"
    config = work / "agent" / "agent.json"
    state_file = config.with_name("state.json")
    log_file = work / "agent" / "agent.log"
    timeline: list[tuple[float, bool]] = []  # (wall time, audio only) from the state file
    windows: list[tuple[Condition, float, float]] = []
    hub_exposes: bool | None = None
    try:
        lesson = await admin.lesson(classrooms=1)
        lecturer = LessonClient(hub.url, lesson.lecturer_token, ice_host_addresses=("127.0.0.1",))
        await lecturer.connect({Slot.CAMERA: camera, Slot.MICROPHONE: ToneAudioTrack()})
        save_config(AgentConfig(hub.url, lesson.credentials[0]), config)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        command = [
            *link.exec_prefix(),
            sys.executable,
            "-m",
            "classroom_agent",
            "--config",
            str(config),
            "join",
            "--lesson",
            lesson.code,
            "--display",
            "none",
            "--audio-output",
            "none",
            "--video-source",
            "testpattern",
            "--audio-source",
            "tone",
            "--record-received",
            str(record),
            "--ice-host",
            link.ns_address,
            "--log-file",
            str(log_file),
        ]
        agent = await asyncio.to_thread(_spawn, command, env, work / "agent.out")
        await _wait_for_video(agent, state_file, record)

        for condition in plan:
            await asyncio.to_thread(link.apply, condition.impairment)
            start = time.time()
            end = start + condition.seconds
            while time.time() < end:
                if agent.poll() is not None:
                    raise AssertionError(f"agent exited ({agent.returncode}): {_tail(log_file)}")
                state = _read_json(state_file)
                if state is not None:
                    timeline.append((time.time(), bool(state.get("audio_only"))))
                await asyncio.sleep(0.25)
            windows.append((condition, start, time.time()))
        link_stats = await asyncio.to_thread(link.stats)
        await asyncio.to_thread(link.clear)
        hub_exposes = await _hub_exposes_audio_only(hub.url, lesson.lesson_id)
    finally:
        if agent is not None:
            await asyncio.to_thread(_stop, agent)
        if lecturer is not None:
            await lecturer.close()
        await admin.close()
        await asyncio.to_thread(hub.stop)

    wall_start = statistics.median(t - k / FPS for k, t in camera.sent_at.items())
    debug = {
        "wall_start": wall_start,
        "frames_sent": camera.count,
        "windows": [(c.name, a, b) for c, a, b in windows],
        "audio_only_timeline": timeline,
    }
    (work / "netem-run.json").write_text(json.dumps(debug))
    figures = await asyncio.to_thread(
        _analyse, record, wall_start, camera.count, windows, timeline, settle_s
    )
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    return Report(
        figures=figures,
        backend=link.backend,
        switches=[line for line in log.splitlines() if "audio only" in line],
        sessions=log.count("joined lesson"),
        link_stats=link_stats,
        hub_exposes_audio_only=hub_exposes,
    )


async def _wait_for_video(agent: subprocess.Popen[bytes], state: Path, record: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if agent.poll() is not None:
            raise AssertionError(f"agent exited early ({agent.returncode})")
        if _agent_ready(state, record):
            return
        await asyncio.sleep(0.25)
    raise AssertionError("the agent did not receive video within 40 s")


def _agent_ready(state: Path, record: Path) -> bool:
    data = _read_json(state)
    in_lesson = bool(data and data.get("state") == "in_lesson")
    return in_lesson and record.exists() and record.stat().st_size > 50_000


def _spawn(command: list[str], env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    with output.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


async def _hub_exposes_audio_only(url: str, lesson_id: int) -> bool | None:
    async with httpx.AsyncClient(base_url=url, headers=admin_headers(), timeout=5) as http:
        response = await http.get(f"/api/lessons/{lesson_id}/participants")
        if response.status_code != 200:
            return None
        return any("audio_only" in row for row in response.json())


def _stop(agent: subprocess.Popen[bytes]) -> None:
    if agent.poll() is not None:
        return
    agent.send_signal(signal.SIGTERM)  # `ip netns exec` execs: this is the agent itself
    try:
        agent.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGKILL)
        agent.wait(10)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def _tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


# ---------------------------------------------------------------- analysis


@dataclass
class _Frame:
    t: float  # file time, seconds
    key: bool
    counter: int | None  # PatternVideoTrack's frame number, when the picture decoded


def _read_recording(path: Path, max_counter: int) -> tuple[list[_Frame], list[float]]:
    """Video frames and audio packet times (file time) from the recording, in file order."""
    video: list[_Frame] = []
    audio: list[float] = []
    with av.open(str(path)) as container:
        vstream = container.streams.video[0]
        decoder = av.CodecContext.create("vp8", "r")
        for packet in container.demux():
            if packet.pts is None or packet.size == 0:
                continue
            t = float(packet.pts * packet.time_base)
            if packet.stream.type == "audio":
                audio.append(t)
                continue
            if packet.stream is not vstream:
                continue
            counter = None
            with contextlib.suppress(av.FFmpegError):
                frames = decoder.decode(av.Packet(bytes(packet)))
                if frames:
                    counter = read_counter(frames[-1])
            if counter is not None and not 0 <= counter <= max_counter:
                counter = None
            video.append(_Frame(t, bool(packet.is_keyframe), counter))
    return video, audio


def _sender_times(video: list[_Frame], wall_start: float) -> tuple[list[float], float]:
    """Each received frame's send time (wall clock), and the file-time-to-wall offset of the
    first stretch (for audio, whose timeline the hub never re-stamps).

    The file's video timeline is the hub's re-stamped RTP clock: the hub restarts it one frame
    after the last one whenever it resumes a slot (audio-only off, a keyframe wait), so file
    time is not wall time. Between two keyframes the offset between the frame counter and the
    file clock is constant: its median over the readable counters of each stretch maps the
    stretch (decoding errors after a loss only garble a few counters).
    """
    stretches: list[list[_Frame]] = []
    for frame in video:
        if frame.key or not stretches:
            stretches.append([])
        stretches[-1].append(frame)
    times: list[float] = []
    first: float | None = None
    offset = 0.0
    for stretch in stretches:
        found = _stretch_offset(stretch)
        if found is not None:
            offset = found  # else: no re-stamp without a keyframe we could read; carry on
        for frame in stretch:
            times.append(wall_start + (frame.t * FPS + offset) / FPS)
        if first is None and found is not None:
            first = wall_start + found / FPS
    if first is None:
        raise AssertionError("no decodable video frame in the recording")
    return times, first


def _stretch_offset(stretch: list[_Frame]) -> float | None:
    """The counter-minus-file-clock offset most readings of a stretch agree on (±1.5 frames),
    if at least three do: a garbled counter (decoded after a loss) agrees with nothing."""
    readings = sorted(f.counter - f.t * FPS for f in stretch if f.counter is not None)
    best: list[float] = []
    lo = 0
    for hi in range(len(readings)):
        while readings[hi] - readings[lo] > 3.0:
            lo += 1
        if hi - lo + 1 > len(best):
            best = readings[lo : hi + 1]
    return statistics.median(best) if len(best) >= 3 else None


def _gaps(points: list[float], start: float, end: float) -> list[float]:
    edges = [start, *sorted(p for p in points if start <= p <= end), end]
    return [b - a for a, b in itertools.pairwise(edges)]


def _audio_cover(points: list[float], start: float, end: float) -> tuple[float, float]:
    covered, reach, longest = 0.0, start, 0.0
    for p in sorted(p for p in points if start - OPUS_FRAME_S <= p <= end):
        longest = max(longest, p - reach)
        lo, hi = max(p, reach), min(p + OPUS_FRAME_S, end)
        if hi > lo:
            covered += hi - lo
        reach = max(reach, p + OPUS_FRAME_S)
    longest = max(longest, end - reach)
    return covered / (end - start), longest


def _analyse(
    record: Path,
    wall_start: float,
    max_counter: int,
    windows: list[tuple[Condition, float, float]],
    timeline: list[tuple[float, bool]],
    settle_s: float,
) -> list[Figures]:
    video, audio = _read_recording(record, max_counter)
    video_wall, audio_offset = _sender_times(video, wall_start)
    audio_wall = [t + audio_offset for t in audio]
    figures = []
    for condition, start, end in windows:
        a, b = start + settle_s, end
        frames = [t for t in video_wall if a <= t <= b]
        freezes = [g for g in _gaps(video_wall, a, b) if g > FREEZE_S]
        cover, audio_gap = _audio_cover(audio_wall, a, b)
        flags = [only for t, only in timeline if start <= t <= end]
        imp = condition.impairment
        figures.append(
            Figures(
                name=condition.name,
                loss_pct=imp.loss_pct,
                delay_ms=imp.delay_ms,
                rate_kbit=imp.rate_kbit,
                fps=round(len(frames) / (b - a), 1),
                freezes=len(freezes),
                max_freeze_ms=round(1000 * max(freezes, default=0.0)),
                audio_continuity=round(cover, 4),
                max_audio_gap_ms=round(1000 * audio_gap),
                audio_only=any(flags),
                audio_only_share=round(sum(flags) / len(flags), 3) if flags else 0.0,
                audio_only_at_end=bool(flags and flags[-1]),
            )
        )
    return figures


# ---------------------------------------------------------------- the test


@pytest.mark.slow
@pytest.mark.timeout(290)
async def test_agent_keeps_audio_and_video_sane_on_poor_links(tmp_path: Path) -> None:
    try:
        report = await run_scenario(tmp_path, conditions())
    except NetnsUnavailable as exc:
        print(f"\nSKIP: cannot build a network namespace here: {exc}")
        pytest.skip(f"network namespaces unavailable: {exc}")
    print(f"\nlink back end: {report.backend}; agent sessions: {report.sessions}")
    print(report.table())
    print("agent audio-only switches:", *report.switches, sep="\n  ")
    print("link counters:", json.dumps(report.link_stats))
    print("hub participants API exposes audio_only:", report.hub_exposes_audio_only)
    print(json.dumps(report.as_json()))

    by_name = {f.name: f for f in report.figures}
    problems: list[str] = []

    def check(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    for f in report.figures:
        # Opus has no retransmission: losing p of the packets may cost about p of the audio.
        if f.rate_kbit == 300:
            # 300 kbit/s both ways: the classroom's own camera fills the uplink until the
            # agent turns audio-only (after 5 s of loss), and its session may drop and rejoin.
            floor = 0.60 if f.name == "300 kbit/s down" else 0.25
        elif f.name.startswith("recovered"):
            # A session lost to the cap is rejoined in this window: up to ~5 s without audio.
            floor = 0.60
        else:
            # Up to 2.5 times the loss rate: the reorder buffer's late packets, a busy CPU
            # (a loaded test machine played 94.96 % on the jittery link, which lost nothing).
            floor = min(0.93, 1 - 2.5 * f.loss_pct / 100)
        check(
            f.audio_continuity >= floor,
            f"{f.name}: audio continuity {f.audio_continuity:.1%} < {floor:.0%}",
        )
    for name in ("clean", "delay 150±30ms", "1 Mbit/s"):
        f = by_name[name]
        check(f.fps >= 20 and f.freezes == 0, f"{name}: {f}")
        check(not f.audio_only, f"{name}: the agent went audio-only on a usable link")
    # Lost video packets are resent on request (NACK/RTX) and a hole that stays is given up
    # for a key frame within a second: video keeps flowing under loss, without long freezes.
    for name in ("loss 2%", "loss 5%", "loss 8%"):
        f = by_name[name]
        check(f.fps >= 20 and f.max_freeze_ms < 1500, f"{name}: video {f}")
        check(not f.audio_only, f"{name}: the agent went audio-only on a link it can use")
    check(by_name["300 kbit/s down"].audio_only, "300 kbit/s down: never asked for audio only")
    # Once the link is clean again, the agent is back to video by itself.
    final = by_name["recovered 2"]
    check(not final.audio_only_at_end, "recovered 2: still audio-only when the window ended")
    # Video comes back once each cap is cleared.
    for name in ("recovered", "recovered 2"):
        check(by_name[name].fps >= 5, f"{name}: no video after the cap was cleared")
    check(report.sessions <= 4, f"the agent rejoined {report.sessions - 1} times")
    assert not problems, "\n".join(problems)
