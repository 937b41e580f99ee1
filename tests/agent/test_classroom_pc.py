"""The classroom PC for real: `classroom-agent run` with no device flags on a PC whose screen is
a real X server (Xvfb + openbox), whose loudspeakers and microphone are a real sound server
(PulseAudio: a null sink, a sine source at 660 Hz) and which has no camera.

One agent and one hub serve every test here (they run in order): the waiting screen, then the
lesson (the lecturer full screen, Chinese status strip, the tone on the loudspeakers, the
microphone at the hub, "no camera" everywhere), mute and unmute, echo cancelling with the
loudspeakers looped into the microphone, and the display and the sound server going away and
coming back.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import av
import cv2
import numpy as np
import pytest
import pytest_asyncio

from classroom_agent import layout
from classroom_agent.config import AgentConfig, save_config
from classroom_agent.status import read_status, state_path
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack, ToneAudioTrack, read_counter
from streamhub.protocol import Listen, MuteRequest, ScreenShare, Slot, StageOff, StageOn
from tests.agent.conftest import ROOT, agent_env
from tests.support.desktop import Desktop, full_screen_window
from tests.support.hub import AdminApi, InProcessHub
from tests.support.pulse import (
    MIC_HZ,
    SINK,
    PulseServer,
    band_level_db,
    collect_decoded,
    dominant_hz,
    gaps,
)
from tests.support.wait import eventually

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

TITLE = "分数的加减法"
LECTURER = "李老师"
LECTURER_HZ = 440.0
LECTURER_AMPLITUDE = 0.3
SCREEN = (1280, 720)
LECTURER_PICTURE = (640, 360)  # 16:9 like the screen: "filling the screen" means every pixel


@dataclass
class Heard:
    """What the lecturer receives from the classroom it listens to, decoded as it arrives."""

    chunks: list[tuple[float, np.ndarray]] = field(default_factory=list)

    def since(self, start: float) -> np.ndarray:
        parts = [c for t, c in self.chunks if t >= start]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)


@dataclass
class Room:
    desktop: Desktop
    pulse: PulseServer
    hub: InProcessHub
    admin: AdminApi
    lesson_id: int
    lecturer_token: str
    config: Path
    agent: subprocess.Popen[bytes]
    work: Path
    lecturer: LessonClient | None = None
    classroom_id: int = 0
    other_credential: str = ""
    heard: Heard = field(default_factory=Heard)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        return read_status(state_path(self.config)) or {}

    async def classroom(self) -> dict[str, Any]:
        people = await self.admin.http.get(f"/api/lessons/{self.lesson_id}/participants")
        rooms = [p for p in people.json() if p["classroom_id"] == self.classroom_id]
        assert rooms, "the classroom has not joined"
        return rooms[0]

    async def devices(self) -> dict[str, str]:
        return (await self.classroom()).get("devices") or {}

    def log(self) -> str:
        path = self.work / "agent.out"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def machine_ready() -> None:
    cameras = list(Path("/sys/class/video4linux").glob("video*"))
    assert not cameras, f"these tests need a PC without a camera (found {cameras})"
    missing = [
        t for t in ("Xvfb", "openbox", "pulseaudio", "pactl", "parec", "tesseract")
        if shutil.which(t) is None
    ]  # fmt: skip
    assert not missing, f"install the Makefile's TEST_DEBS (missing {missing})"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def room(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Room]:
    machine_ready()
    work = tmp_path_factory.mktemp("classroom-pc")
    desktop, pulse = Desktop(SCREEN), PulseServer()
    await asyncio.to_thread(desktop.start)
    await asyncio.to_thread(pulse.start)
    hub = InProcessHub(work / "hub", recorder={"enabled": False})
    await hub.__aenter__()
    admin = AdminApi(hub.url)
    setup = await admin.lesson(classrooms=2, start=False)  # the agent's, and one for the stage
    # The lesson of the day: tomorrow, so the waiting screen announces it.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    await admin.subject("数学")
    lesson = await admin.post(
        "/api/lessons",
        {
            "title": TITLE,
            "subject": "数学",
            "lecturer_name": LECTURER,
            "scheduled_start": tomorrow.isoformat(),
            "scheduled_end": (tomorrow + timedelta(hours=1)).isoformat(),
            "classroom_ids": setup.classroom_ids,
        },
    )
    link = await admin.post(f"/api/lessons/{lesson['id']}/lecturer-link")
    config = work / "agent" / "agent.json"
    save_config(AgentConfig(hub.url, setup.credentials[0], language="zh-CN"), config)
    env = {**agent_env(), **desktop.env(), **pulse.env()}
    out = (work / "agent.out").open("wb")
    # Exactly what a classroom PC runs: no source, display or output flags.
    command = [sys.executable, "-m", "classroom_agent", "--config", str(config), "run"]
    agent = await asyncio.to_thread(
        subprocess.Popen,
        [*command, "--poll-interval", "0.3"],
        env=env,
        cwd=ROOT,
        stdout=out,
        stderr=out,
    )
    room = Room(desktop, pulse, hub, admin, lesson["id"], link["token"], config, agent, work)
    room.classroom_id, room.other_credential = setup.classroom_ids[0], setup.credentials[1]
    try:
        yield room
    finally:
        for task in room.tasks:
            task.cancel()
        await asyncio.gather(*room.tasks, return_exceptions=True)
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(agent.wait, 20)
        except subprocess.TimeoutExpired:
            agent.kill()
        out.close()
        if room.lecturer is not None:
            await room.lecturer.close()
        await admin.close()
        await hub.__aexit__(None, None, None)
        pulse.close()
        desktop.stop()


async def live(room: Room) -> LessonClient:
    """Start the lesson and its lecturer (once): a 640x360 pattern and a 440 Hz tone."""
    if room.lecturer is not None:
        return room.lecturer
    await room.admin.post(f"/api/lessons/{room.lesson_id}/start")
    lecturer = LessonClient(room.hub.url, room.lecturer_token)
    await lecturer.connect(
        {
            Slot.CAMERA: PatternVideoTrack(*LECTURER_PICTURE),
            Slot.MICROPHONE: ToneAudioTrack(LECTURER_HZ, LECTURER_AMPLITUDE),
        }
    )
    room.lecturer = lecturer
    await eventually(lambda: room.status().get("state") == "in_lesson", timeout=30)
    classroom = await eventually(room.classroom, timeout=10)
    await lecturer.request(Listen(participant=classroom["id"]))
    await eventually(lambda: _tile_audio(lecturer, classroom["id"]), timeout=15)
    room.tasks.append(asyncio.create_task(_listen(lecturer, classroom["id"], room.heard)))
    return lecturer


def _tile_audio(lecturer: LessonClient, participant: str) -> Any:
    for mid, slot in lecturer.slots.items():
        if slot is Slot.TILE_AUDIO and lecturer.tiles.get(mid) == participant:
            return lecturer.tile_tracks.get(mid)
    return None


async def _listen(lecturer: LessonClient, participant: str, heard: Heard) -> None:
    await collect_decoded(_tile_audio(lecturer, participant), heard.chunks)


async def hear(room: Room, seconds: float, deadline_s: float = 30.0) -> np.ndarray:
    """The next ``seconds`` of what the lecturer hears from the classroom: waits for that much
    audio to arrive (a loaded machine can hold it up), not for that much time to pass."""
    start = time.monotonic()
    wanted = int(48_000 * seconds)
    await eventually(lambda: len(room.heard.since(start)) >= wanted, timeout=deadline_s)
    return room.heard.since(start)[:wanted]


T = TypeVar("T")


def off_loop(check: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """``check`` in a thread: screenshots, their analysis and OCR take long enough on a busy
    machine to stall the hub, which runs in this test's event loop (its ICE consent answers
    included), and the room would then lose its media because of the test."""
    return lambda: asyncio.to_thread(check)


def ocr(image: np.ndarray) -> str:
    """Tesseract's reading of a picture (Simplified Chinese and English)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    _, png = cv2.imencode(".png", 255 - gray)  # dark text on light reads best
    done = subprocess.run(
        ["tesseract", "-", "-", "-l", "chi_sim+eng", "--psm", "6"],
        input=png.tobytes(), capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    return done.stdout.decode(errors="replace").replace(" ", "")


def lecturer_on_screen(room: Room) -> tuple[np.ndarray] | None:
    """A screenshot, if it shows the lecturer's pattern from edge to edge: its blue rises left
    to right and its green top to bottom over the whole screen."""
    width, height = SCREEN
    shot = room.desktop.screenshot()
    top = shot[: height - 80]
    left, right = top[:, 8, 2].mean(), top[:, width - 8, 2].mean()
    upper, lower = shot[20, :, 1].mean(), shot[height - 100, :, 1].mean()
    return (shot,) if right - left > 200 and lower - upper > 150 else None


def counter_on_screen(shot: np.ndarray) -> int:
    """The lecturer's frame number, read from the screen scaled back to the sent picture."""
    small = cv2.resize(shot, LECTURER_PICTURE, interpolation=cv2.INTER_AREA)
    return read_counter(av.VideoFrame.from_ndarray(np.ascontiguousarray(small), format="rgb24"))


def save(room: Room, name: str, shot: np.ndarray) -> None:
    folder = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "agent"
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(shot, cv2.COLOR_RGB2BGR))


# ---------------------------------------------------------------------- before the lesson


async def test_devices_lists_what_the_pc_has(room: Room) -> None:
    env = {**agent_env(), **room.desktop.env(), **room.pulse.env()}
    command = [sys.executable, "-m", "classroom_agent", "devices", "--json"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=ROOT, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["cameras"] == []
    assert any(m["default"] for m in listing["microphones"])
    assert any(o["default"] for o in listing["outputs"])
    assert [s["detail"] for s in listing["screens"]] == ["1280x720"]
    text = await asyncio.to_thread(
        subprocess.run, command[:-1], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert "--video-source camera:N" in text.stdout and "none" in text.stdout


async def test_before_the_lesson_the_projector_shows_the_next_lesson_and_a_self_check(
    room: Room,
) -> None:
    assert await full_screen_window(room.desktop), "full screen, no window chrome"
    await eventually(lambda: room.status().get("state") == "waiting", timeout=20)

    def read_waiting() -> str | None:
        shot = room.desktop.screenshot()
        save(room, "waiting", shot)
        text = ocr(shot)
        return text if "下一节课" in text and "设备自检" in text and "李老师" in text else None

    text = await eventually(off_loop(read_waiting), timeout=20, interval=0.5)
    assert "未连接" in text, f"the missing camera is shown in the self-check: {text!r}"
    status = room.status()
    assert status["devices"]["camera"]["state"] == "missing"
    assert status["devices"]["microphone"]["state"] == "ok"
    assert status["devices"]["speaker"]["state"] == "ok"
    assert status["devices"]["display"]["state"] == "ok"
    assert "no camera" in status["problems"]


# ---------------------------------------------------------------------- in the lesson


async def test_the_lecturer_fills_the_projector_and_the_picture_moves(room: Room) -> None:
    await live(room)

    on_screen = off_loop(lambda: lecturer_on_screen(room))
    (first,) = await eventually(on_screen, timeout=30, interval=0.2)
    save(room, "lesson", first)
    before = counter_on_screen(first)
    moved = off_loop(lambda: counter_on_screen(room.desktop.screenshot()) > before + 5)
    await eventually(moved, timeout=15, interval=0.2)


async def test_the_status_strip_speaks_chinese_and_says_no_camera(room: Room) -> None:
    await live(room)
    height = SCREEN[1]

    seen: list[str] = []

    def strip_text() -> bool:
        seen.append(ocr(room.desktop.screenshot()[height - 72 :]))
        text = seen[-1]
        title = sum(ch in text for ch in TITLE) >= len(TITLE) - 1  # OCR may miss one
        return title and all(words in text for words in ("讲师", "无摄像头", "举手"))

    # The strip is drawn over the moving picture: OCR may misread one frame, not all.
    try:
        await eventually(off_loop(strip_text), timeout=20, interval=0.3)
    except AssertionError:
        raise AssertionError(f"the strip does not read as Chinese: {seen[-3:]!r}") from None


async def test_no_camera_joins_with_sound_and_says_so_to_the_lecturer(room: Room) -> None:
    await live(room)
    devices = await eventually(room.devices, timeout=15)
    assert devices == {"camera": "missing", "microphone": "ok", "speaker": "ok", "display": "ok"}
    assert "no camera" in room.status()["problems"]
    # The classroom's microphone is the PC's default input (the 660 Hz source), not a tone.
    heard = await eventually(lambda: len(room.heard.since(0)) > 48_000, timeout=30)
    assert heard
    sample = await hear(room, 1.0)
    assert abs(dominant_hz(sample) - MIC_HZ) < 5


async def test_the_lecturers_voice_plays_on_the_loudspeakers_at_its_level_without_gaps(
    room: Room,
) -> None:
    await live(room)
    played = await asyncio.to_thread(room.pulse.record, 4.0)
    steady = played[48_000 // 2 :]  # parec's first buffer may start mid-stream
    assert abs(dominant_hz(steady) - LECTURER_HZ) < 3
    expected_rms = LECTURER_AMPLITUDE * 32767 / np.sqrt(2)
    rms = float(np.sqrt((steady.astype(np.float64) ** 2).mean()))
    assert 0.5 * expected_rms < rms < 1.5 * expected_rms, (rms, expected_rms)
    holes = gaps(steady, expected_rms)
    print(f"\nloudspeakers: {rms:.0f} RMS (sent {expected_rms:.0f}); gaps (ms): {holes}")
    # Continuous: on an idle machine no gap at all, but a 2-core machine loaded 4x over can
    # leave the agent unscheduled for a few hundred ms before its buffer grows to cover it.
    # The figure is measured by bench/agent_room.py and reported, not asserted here.
    assert sum(holes) <= 0.15 * len(steady) / 48, f"audible gaps: {holes}"


async def test_the_microphone_works_again_after_mute_and_unmute(room: Room) -> None:
    lecturer = await live(room)
    classroom = await room.classroom()
    await lecturer.request(MuteRequest(participant=classroom["id"], muted=True))
    await eventually(lambda: room.status().get("muted") is True, timeout=10)
    await lecturer.request(MuteRequest(participant=classroom["id"], muted=False))
    await eventually(lambda: room.status().get("muted") is False, timeout=10)
    start = time.monotonic()
    await eventually(lambda: len(room.heard.since(start)) > 48_000, timeout=30)
    assert abs(dominant_hz(room.heard.since(start)) - MIC_HZ) < 5


async def test_echo_of_the_loudspeakers_in_the_microphone_is_cancelled_by_20_db(
    room: Room,
) -> None:
    await live(room)
    played = await asyncio.to_thread(room.pulse.record, 2.0)
    in_room = band_level_db(played[24_000:], LECTURER_HZ)
    # Loop the loudspeakers into the agent's microphone: the lecturer's voice comes back.
    for index in room.pulse.source_outputs():
        room.pulse.pactl("move-source-output", index, f"{SINK}.monitor")
    await asyncio.sleep(0)
    converged = time.monotonic() + 5.0  # the canceller adapts to a new echo path
    await eventually(lambda: time.monotonic() > converged, timeout=10)
    back = await hear(room, 3.0)
    echoed = band_level_db(back, LECTURER_HZ)
    attenuation = in_room - echoed
    print(f"\necho: in the room {in_room:.1f} dBFS, back to the lecturer {echoed:.1f} dBFS, "
          f"attenuated {attenuation:.1f} dB")  # fmt: skip
    assert attenuation >= 20, f"echo attenuated by only {attenuation:.1f} dB"


async def test_a_shared_screen_is_the_main_picture_and_the_stage_an_inset(room: Room) -> None:
    lecturer = await live(room)
    screen = PatternVideoTrack(1280, 720, fps=10)
    screen._base[:] = (0, 0, 255)  # red (BGR)
    stage_camera = PatternVideoTrack(320, 240)
    stage_camera._base[:] = (0, 255, 0)  # green
    token = await room.admin.device_token(room.other_credential)
    other = LessonClient(room.hub.url, token)
    try:
        await other.connect({Slot.CAMERA: stage_camera})
        lecturer.publish(Slot.SCREEN, screen)
        await lecturer.request(ScreenShare(on=True))
        await lecturer.request(StageOn(participant=other.joined.participant.id))  # type: ignore[union-attr]

        def looks_right() -> bool:
            shot = room.desktop.screenshot()
            main = shot[300:360, 600:680].reshape(-1, 3).mean(axis=0)
            x, y, w, h = layout.inset(*LECTURER_PICTURE, SCREEN, "right")
            lecturer_inset = shot[y + h // 2, x + 4 : x + w - 4, 2]  # blue rises left to right
            x, y, w, h = layout.inset(320, 240, SCREEN, "left")
            stage_inset = shot[y + h // 2 - 10 : y + h // 2 + 10, x + w // 2].mean(axis=0)
            return bool(
                main[0] > 200 > 60 > main[1]  # the red screen fills the middle
                and lecturer_inset[-1] - lecturer_inset[0] > 150
                and stage_inset[1] > 200 > 60 > stage_inset[0]  # the green classroom
            )

        await eventually(off_loop(looks_right), timeout=20, interval=0.3)
        save(room, "screen-and-stage", room.desktop.screenshot())
        await lecturer.request(StageOff())
        await lecturer.request(ScreenShare(on=False))
        lecturer.publish(Slot.SCREEN, None)
        # Back to the lecturer alone, edge to edge.
        await eventually(off_loop(lambda: lecturer_on_screen(room)), timeout=20, interval=0.3)
    finally:
        await other.close()


# ---------------------------------------------------------------------- devices come and go


async def test_a_display_unplugged_and_plugged_back_is_survived(room: Room) -> None:
    await live(room)
    await asyncio.to_thread(room.desktop.unplug)
    await eventually(lambda: _device(room, "display") == "missing", timeout=40)
    await eventually(lambda: _reported(room, "display", "missing"), timeout=40)
    assert room.agent.poll() is None, room.log()
    assert room.status()["state"] == "in_lesson"

    await asyncio.to_thread(room.desktop.start)
    # The window manager starts with the new display, maybe after the window: still no frame.
    assert await full_screen_window(room.desktop, timeout=40)
    await eventually(lambda: _device(room, "display") == "ok", timeout=40)
    await eventually(lambda: _reported(room, "display", "ok"), timeout=40)
    (shot,) = await eventually(off_loop(lambda: lecturer_on_screen(room)), timeout=20, interval=0.2)
    before = counter_on_screen(shot)
    # The picture moves again (a screenshot taken mid-redraw can misread one frame's number, so
    # any other number counts).
    try:
        moved = off_loop(lambda: counter_on_screen(room.desktop.screenshot()) != before)
        await eventually(moved, timeout=40)
    except AssertionError as exc:
        stuck = f"the picture stays at frame {before}; the agent:\n{room.log()}"
        raise AssertionError(stuck) from exc


async def test_a_sound_server_gone_and_back_brings_speakers_and_microphone_back(
    room: Room,
) -> None:
    await live(room)
    await asyncio.to_thread(room.pulse.stop)
    await eventually(
        lambda: _device(room, "speaker") == _device(room, "microphone") == "missing", timeout=15
    )
    assert {"no speaker", "no microphone"} <= set(room.status()["problems"])
    await eventually(lambda: _reported(room, "speaker", "missing"), timeout=40)
    assert room.agent.poll() is None, room.log()

    await asyncio.to_thread(room.pulse.start)
    # Both reopen within a retry (2 s) of the server coming back; 40 s as for the display: the
    # sound server itself takes seconds to start on a busy machine (20 s was once too short).
    await eventually(
        lambda: _device(room, "speaker") == _device(room, "microphone") == "ok", timeout=40
    )

    async def the_lecturer_plays_again() -> bool:
        played = await asyncio.to_thread(room.pulse.record, 1.5)
        return bool(played[24_000:].any()) and abs(dominant_hz(played[24_000:]) - LECTURER_HZ) < 3

    await eventually(the_lecturer_plays_again, timeout=30)
    start = time.monotonic()
    await eventually(lambda: len(room.heard.since(start)) > 48_000, timeout=60)
    assert abs(dominant_hz(room.heard.since(start)) - MIC_HZ) < 5


async def _reported(room: Room, device: str, state: str) -> bool:
    """The participants API (what the lecturer's tile shows) has it too."""
    return (await room.devices()).get(device) == state


def _device(room: Room, name: str) -> str | None:
    return (room.status().get("devices") or {}).get(name, {}).get("state")
