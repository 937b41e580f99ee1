"""A browser WHIP client: a page on another origin (allowed by the hub's settings) publishes
Chromium's fake camera and microphone with fetch + RTCPeerConnection, through a real CORS
preflight; a Python classroom decodes the picture and the sound; the page's DELETE ends it.

Issue 20's receivers: an aiortc WHIP publisher (H.264 + Opus) and the browser WHIP client each
teach a real classroom PC (`classroom_agent run`: its projector window on an X display, its
loudspeakers a PulseAudio sink) and a browser classroom (web/classroom.html) at once; each
receives >= 25 fps and the sound."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.protocol import ParticipantLeft, Role, Slot
from tests.support.classroom_pc import AgentFps, ClassroomPc, agent_fps, classroom_pc
from tests.support.frames import AGENT_CODECS, first_frame
from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.net import free_port
from tests.support.pulse import band_level_db, dominant_hz
from tests.support.wait import eventually
from tests.support.whip import WhipClient
from tests.web.conftest import chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CLIENT_HTML = b"<!doctype html><title>WHIP client</title><p>WHIP client</p>"

PUBLISH = """async ({endpoint, token, video, audio}) => {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: video || {width: 640, height: 480}, audio: audio || true});
  const pc = new RTCPeerConnection({iceServers: []});
  for (const track of stream.getTracks()) {
    // A camera in a lesson: when the encoder is short of CPU, lose detail, not frames.
    if (track.kind === "video") track.contentHint = "motion";
    pc.addTransceiver(track, {direction: "sendonly"});
  }
  await pc.setLocalDescription(await pc.createOffer());
  // No trickle: the offer goes out with every candidate, as the hub's answer comes back.
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
  const response = await fetch(endpoint, {
    method: "POST",
    headers: {"Content-Type": "application/sdp", "Authorization": `Bearer ${token}`},
    body: pc.localDescription.sdp,
  });
  const body = await response.text();
  const result = {
    status: response.status,
    location: response.headers.get("Location"),
    etag: response.headers.get("ETag"),
    body,
  };
  if (response.status === 201) {
    await pc.setRemoteDescription({type: "answer", sdp: body});
    window.whip = {pc, session: new URL(result.location, endpoint).href, token};
  }
  return result;
}"""

END = """async () => {
  const response = await fetch(window.whip.session, {
    method: "DELETE", headers: {"Authorization": `Bearer ${window.whip.token}`}});
  window.whip.pc.close();
  return response.status;
}"""


async def _page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Any request: the client page (it brings no script; the test evaluates it)."""
    await reader.readuntil(b"\r\n\r\n")
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(CLIENT_HTML)}"
    writer.write(head.encode() + b"\r\nConnection: close\r\n\r\n" + CLIENT_HTML)
    await writer.drain()
    writer.close()


@pytest.fixture
async def client_origin() -> AsyncIterator[str]:
    """Another origin on loopback serving the WHIP client page. On loopback, not a page
    Playwright makes up: Chromium's local network access refuses a page of unknown address
    the hub on 127.0.0.1, with no request sent."""
    server = await asyncio.start_server(_page, "127.0.0.1", free_port())
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def hub(make_hub: HubFactory, client_origin: str) -> InProcessHub:
    signaling = {"joins_per_minute": 1000, "allowed_origins": [client_origin]}
    return await make_hub(recorder={"enabled": False}, signaling=signaling)


async def test_a_browser_whip_client_teaches_a_classroom(
    hub: InProcessHub, admin: AdminApi, browser: Any, client_origin: str
) -> None:
    lesson = await admin.lesson(classrooms=1, start=False)
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    await page.goto(f"{client_origin}/whip-client.html")
    classroom: LessonClient | None = None
    try:
        endpoint = f"{hub.url}/whip/{lesson.code}"
        result = await page.evaluate(
            PUBLISH, {"endpoint": endpoint, "token": lesson.lecturer_token}
        )
        assert result["status"] == 201, result
        assert result["location"].startswith(f"/whip/{lesson.code}/")  # exposed by CORS
        assert result["etag"]
        await page.wait_for_function(
            "() => window.whip.pc.connectionState === 'connected'", timeout=20_000
        )

        classroom = LessonClient(
            hub.url, await admin.device_token(lesson.credentials[0]), codecs=AGENT_CODECS
        )
        await classroom.connect({Slot.CAMERA: None, Slot.MICROPHONE: None})
        assert classroom.joined is not None
        codec = classroom.joined.video_codec
        assert codec == "H264"  # Chromium sends H.264; forwarded as it is
        lecturer = next(p for p in classroom.joined.participants if p.role is Role.LECTURER)
        frame = await first_frame(classroom.tracks[Slot.LECTURER_VIDEO], codec)
        assert (frame.width, frame.height) == (640, 480)
        opus = FrameDecoder("opus")
        audio = await asyncio.wait_for(classroom.tracks[Slot.LECTURER_AUDIO].recv(), 10)
        assert opus.decode(audio)

        assert await page.evaluate(END) == 204
        left = await classroom.next_event(ParticipantLeft, timeout=10)
        assert left.participant == lecturer.id
        await eventually(lambda: not hub.services.whip.sessions, timeout=5)
        assert errors == []
    finally:
        if classroom is not None:
            await classroom.close()
        await context.close()


async def test_the_lecturer_page_gives_the_whip_url_and_token_to_copy(
    hub: InProcessHub, admin: AdminApi, browser: Any
) -> None:
    from playwright.async_api import expect

    lesson = await admin.lesson(classrooms=1, start=False)
    context = await browser.new_context(locale="en-US")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=hub.url)
    page = await context.new_page()
    try:
        await page.goto(f"{hub.url}/lesson/{lesson.code}?lang=en#token={lesson.lecturer_token}")
        await page.get_by_text("Teach from OBS or a lecture-capture box (WHIP)").click()
        await expect(page.locator("#whip-url")).to_have_value(f"{hub.url}/whip/{lesson.code}")
        await expect(page.locator("#whip-token")).to_have_value(lesson.lecturer_token)
        await page.locator("#copy-whip-url").click()
        await expect(page.locator("#whip-status")).to_have_text("Copied")
        copied = await page.evaluate("() => navigator.clipboard.readText()")
        assert copied == f"{hub.url}/whip/{lesson.code}"
    finally:
        await context.close()


async def test_the_lecturer_page_says_when_whip_holds_the_camera(
    hub: InProcessHub, admin: AdminApi, browser: Any
) -> None:
    from playwright.async_api import expect

    lesson = await admin.lesson(classrooms=1, start=False)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264")
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    try:
        assert (await whip.publish()).status_code == 201
        await page.goto(f"{hub.url}/lesson/{lesson.code}?lang=en#token={lesson.lecturer_token}")
        go_live = page.get_by_role("button", name="Go live")
        await expect(go_live).to_be_enabled(timeout=15_000)
        await go_live.click()
        await expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=15_000)
        banner = page.locator("#whip-active")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("come from WHIP")
        # The page moderates; the WHIP publisher keeps the slots.
        room = hub.services.lessons.rooms[lesson.lesson_id]
        assert room.feed is not None and room.lecturer is not None
        assert (await whip.delete()).status_code == 204
        await expect(banner).to_be_hidden(timeout=10_000)
    finally:
        await context.close()
        await whip.close()


# ---------------------------------------------------------------- issue 20's receivers

logger = logging.getLogger(__name__)

MIN_FPS = 25.0
# Chromium's fake camera runs at 20 fps unless told otherwise; a camera for a lesson, 30.
FAKE_CAMERA_30_FPS = "--use-fake-device-for-media-stream=fps=30"
LESSON_CAMERA = {"width": 640, "height": 480, "frameRate": 30}
# The fake microphone's beeps as they are: no echo canceller or noise suppressor to eat them.
RAW_MICROPHONE = {"echoCancellation": False, "noiseSuppression": False, "autoGainControl": False}

# Every peer connection the classroom page makes, for its getStats (the page keeps its own).
KEEP_PEER_CONNECTIONS = """(() => {
  const Native = window.RTCPeerConnection;
  window.peerConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.peerConnections.push(this); }
  };
})();"""

INBOUND = """async () => {
  const figures = {video: null, audio: null};
  for (const pc of window.peerConnections || []) {
    if (pc.connectionState === "closed") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "video" && (s.framesDecoded || 0) >= (figures.video?.frames ?? -1)) {
        figures.video = {frames: s.framesDecoded || 0, at: s.timestamp,
                         width: s.frameWidth || 0, height: s.frameHeight || 0};
      }
      if (s.kind === "audio" && (s.packetsReceived || 0) >= (figures.audio?.packets ?? -1)) {
        figures.audio = {packets: s.packetsReceived || 0, energy: s.totalAudioEnergy || 0,
                         level: s.audioLevel || 0};
      }
    });
  }
  return figures;
}"""

# Over ``seconds``: pictures decoded per second (getStats) and put on screen in the lecturer's
# <video> (requestVideoFrameCallback's presentedFrames), and the sound received.
MEASURE = (
    """async ({seconds}) => {
  const inbound = """
    + INBOUND
    + """;
  const video = document.getElementById("lecturer-video");
  const shown = [];
  let measuring = true;
  const onFrame = (now, meta) => {
    shown.push([now, meta.presentedFrames]);
    if (measuring) video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  const before = await inbound();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = await inbound();
  measuring = false;
  const [firstAt, firstShown] = shown[0] || [0, 0];
  const [lastAt, lastShown] = shown[shown.length - 1] || [0, 0];
  const decoded = after.video.frames - before.video.frames;
  return {
    decoded_fps: (1000 * decoded) / (after.video.at - before.video.at),
    shown_fps: lastAt > firstAt ? (1000 * (lastShown - firstShown)) / (lastAt - firstAt) : 0,
    width: after.video.width,
    height: after.video.height,
    audio_packets: after.audio.packets - before.audio.packets,
    audio_energy: after.audio.energy - before.audio.energy,
    audio_playing: !document.getElementById("lecturer-audio").paused,
  };
}"""
)


@dataclass(frozen=True)
class Received:
    """What the two classrooms received from one publisher."""

    agent: list[AgentFps]  # its windows, until one reached MIN_FPS
    browser: list[dict[str, Any]]  # the same
    played: np.ndarray  # the classroom PC's loudspeakers, 3 s


@pytest.fixture
async def browser30() -> AsyncIterator[Any]:
    async with chromium(FAKE_CAMERA_30_FPS) as launched:
        yield launched


async def browser_classroom(browser: Any, hub: InProcessHub, code: str, credential: str) -> Any:
    """web/classroom.html joined with ``credential``, its peer connections kept for getStats."""
    context = await browser.new_context(locale="en-US")
    await context.add_init_script(KEEP_PEER_CONNECTIONS)
    page = await context.new_page()
    await page.goto(f"{hub.url}/classroom/{code}?lang=en#credential={credential}")
    return page


async def browser_fps(
    page: Any, enough: Callable[[dict[str, Any]], bool], timeout: float = 45.0
) -> list[dict[str, Any]]:
    """Wait (up to ``timeout``) for the lecturer's first picture and sound, then measure 3 s
    windows until one is ``enough``; every window measured, in order."""

    async def started() -> bool:
        figures = await page.evaluate(INBOUND)
        shown = await page.evaluate("() => document.getElementById('lecturer-video').videoWidth")
        status = await page.evaluate("() => document.body.innerText.slice(0, 300)")
        video, audio = figures["video"], figures["audio"]
        # Asserted, so a classroom that never starts says which part never came.
        assert video and video["frames"] > 0, (figures, status)
        assert audio and audio["packets"] > 0, (figures, status)
        assert shown, ("frames decoded but not shown", figures, status)
        return True

    await eventually(started, timeout=timeout, interval=0.25)
    deadline = time.monotonic() + timeout
    windows: list[dict[str, Any]] = []
    while not windows or (not enough(windows[-1]) and time.monotonic() < deadline):
        windows.append(await page.evaluate(MEASURE, {"seconds": 3.0}))
    return windows


# What the issue asks: each classroom *receives* >= 25 fps (the agent's received_fps, the
# browser's decoded frames). What their screens show is measured and asserted to move, not to
# reach 25: the projector window and the page's compositor share the test machine's CPU with
# everything else, and on a loaded 2-core machine they drop pictures (13-23 fps seen at load
# 10-17 while 30 fps were received).
def agent_enough(window: AgentFps) -> bool:
    return window.received >= MIN_FPS


def browser_enough(window: dict[str, Any]) -> bool:
    return bool(window["decoded_fps"] >= MIN_FPS)


def hub_view(hub: InProcessHub, lesson_id: int) -> str:
    """What the hub got from the publisher and sends on: for a failure's message."""
    room = hub.services.lessons.rooms.get(lesson_id)
    if room is None:
        return "the lesson has no room"
    feed = room.feed
    sources = {}
    for slot, source in (feed.sources if feed is not None else {}).items():
        asked = getattr(source, "keyframes", None)
        sources[slot.value] = (
            f"{getattr(source, 'frames', None)} frames, "
            f"{getattr(source, 'keyframes_seen', None)} key frames; key frames asked "
            f"{getattr(asked, 'requested', None)}, PLIs sent {getattr(asked, 'sent', None)}"
        )
    sinks = {
        p.name: {i: (sink.packets_out, sink.dropped) for i, sink in p.sinks.items()}
        for p in room.members.values()
        if p.role.value == "classroom"
    }
    members = {p.name: p.role.value for p in room.members.values()}
    return f"publisher at the hub {sources}; members {members}; sent (packets, dropped) {sinks}"


async def both_classrooms_receive(
    pc: ClassroomPc, page: Any, hub: InProcessHub, lesson_id: int
) -> Received:
    try:
        agent, browser = await asyncio.gather(
            agent_fps(pc, agent_enough), browser_fps(page, browser_enough)
        )
    except AssertionError as exc:
        # Which side never came: the publisher's frames at the hub, the agent's own words.
        raise AssertionError(
            f"{exc}; {hub_view(hub, lesson_id)}; agent log: {pc.log()[-6000:]}"
        ) from exc
    played = await pc.played(3.0)
    logger.info("agent %s, browser classroom %s", agent, browser)
    return Received(agent, browser, played)


def keep_figures(artifacts: Path, name: str, got: Received) -> None:
    """The windows measured, for the record (test-artifacts/NAME.json)."""
    figures = {
        "agent": [dataclasses.asdict(window) for window in got.agent],
        "browser_classroom": got.browser,
        "loudspeaker_peak": int(np.abs(got.played).max()),
    }
    (artifacts / f"{name}.json").write_text(json.dumps(figures, indent=2))


def same_picture(width: int, height: int, size: tuple[int, int]) -> bool:
    """The publisher's picture: its shape, at its size or at a step down. A browser publisher
    scales its encoder down when the machine's CPU is short (Chromium's CPU adaptation: 640x480
    arrived as 480x360 on a busy CI machine); an aiortc publisher never does."""
    return width * size[1] == height * size[0] and size[0] // 2 <= width <= size[0]


def assert_received(got: Received, size: tuple[int, int], pc: ClassroomPc) -> None:
    """The last window of each classroom received MIN_FPS and showed pictures, at the
    publisher's size, with the sound."""
    report = f"agent {got.agent}, browser classroom {got.browser}; agent log: {pc.log()[-1500:]}"
    assert got.agent and agent_enough(got.agent[-1]), report
    assert got.agent[-1].shown > 0, report  # the projector window shows them
    browser = got.browser[-1]
    assert browser_enough(browser), report
    assert browser["shown_fps"] > 0, report  # the lecturer's <video> shows them
    assert same_picture(browser["width"], browser["height"], size), report
    # The sound: packets and energy at the browser classroom (its <audio> playing), and the
    # classroom PC's loudspeakers not silent.
    assert browser["audio_packets"] > 50 and browser["audio_energy"] > 0, report
    assert browser["audio_playing"], report
    assert int(np.abs(got.played).max()) > 1000, report


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_an_aiortc_whip_publisher_teaches_a_classroom_pc_and_a_browser_classroom(
    hub: InProcessHub, admin: AdminApi, browser30: Any, tmp_path: Path, artifacts: Path
) -> None:
    """OBS-like: H.264 and Opus from aiortc, 640x360 at 30 fps and a 440 Hz tone."""
    lesson = await admin.lesson(classrooms=2, start=False)
    whip = WhipClient(f"{hub.url}/whip/{lesson.code}", lesson.lecturer_token, "H264", 640, 360)
    page: Any = None
    try:
        async with classroom_pc(hub.url, lesson.credentials[0], tmp_path / "pc") as pc:
            response = await whip.publish()  # the lesson goes live with it
            assert response.status_code == 201, response.text
            page = await browser_classroom(browser30, hub, lesson.code, lesson.credentials[1])
            got = await both_classrooms_receive(pc, page, hub, lesson.lesson_id)
            keep_figures(artifacts, "whip-aiortc-receivers", got)
            assert_received(got, (640, 360), pc)
            # The loudspeakers play the publisher's tone.
            assert abs(dominant_hz(got.played) - 440.0) < 10, dominant_hz(got.played)
            assert band_level_db(got.played, 440.0) > -30
            assert pc.status().get("state") == "in_lesson"
    finally:
        if page is not None:
            await page.context.close()
        await whip.close()


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_a_browser_whip_client_teaches_a_classroom_pc_and_a_browser_classroom(
    hub: InProcessHub,
    admin: AdminApi,
    browser30: Any,
    client_origin: str,
    tmp_path: Path,
    artifacts: Path,
) -> None:
    """Chromium's fake camera (640x480 at 30 fps, H.264) and microphone (beeps) over WHIP."""
    lesson = await admin.lesson(classrooms=2, start=False)
    publisher = await browser30.new_context(locale="en-US")
    page: Any = None
    try:
        client = await publisher.new_page()
        await client.goto(f"{client_origin}/whip-client.html")
        async with classroom_pc(hub.url, lesson.credentials[0], tmp_path / "pc") as pc:
            result = await client.evaluate(
                PUBLISH,
                {
                    "endpoint": f"{hub.url}/whip/{lesson.code}",
                    "token": lesson.lecturer_token,
                    "video": LESSON_CAMERA,
                    "audio": RAW_MICROPHONE,
                },
            )
            assert result["status"] == 201, result
            page = await browser_classroom(browser30, hub, lesson.code, lesson.credentials[1])
            got = await both_classrooms_receive(pc, page, hub, lesson.lesson_id)
            keep_figures(artifacts, "whip-browser-receivers", got)
            assert_received(got, (640, 480), pc)
            assert pc.status().get("state") == "in_lesson"
            assert await client.evaluate(END) == 204
    finally:
        if page is not None:
            await page.context.close()
        await publisher.close()
