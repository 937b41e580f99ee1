"""A browser WHIP client: a page on another origin (allowed by the hub's settings) publishes
Chromium's fake camera and microphone with fetch + RTCPeerConnection, through a real CORS
preflight; a Python classroom decodes the picture and the sound; the page's DELETE ends it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from streamhub.client import LessonClient
from streamhub.client.decode import FrameDecoder
from streamhub.protocol import ParticipantLeft, Role, Slot
from tests.support.frames import AGENT_CODECS, first_frame
from tests.support.hub import AdminApi, InProcessHub
from tests.support.net import free_port
from tests.support.wait import eventually
from tests.support.whip import WhipClient

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CLIENT_HTML = b"<!doctype html><title>WHIP client</title><p>WHIP client</p>"

PUBLISH = """async ({endpoint, token}) => {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: {width: 640, height: 480}, audio: true});
  const pc = new RTCPeerConnection({iceServers: []});
  for (const track of stream.getTracks()) pc.addTransceiver(track, {direction: "sendonly"});
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
async def hub(tmp_path: Path, client_origin: str) -> AsyncIterator[InProcessHub]:
    async with InProcessHub(
        tmp_path / "hub",
        recorder={"enabled": False},
        signaling={"joins_per_minute": 1000, "allowed_origins": [client_origin]},
    ) as running:
        yield running


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
