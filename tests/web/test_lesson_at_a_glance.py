"""The lecturer runs every classroom at a glance, and the pages never lie (issue 14), in a real
Chromium against a real hub, with real classroom agents where a classroom PC is needed:

- going live while the camera is held back: live without it (with a warning that stays), and
  the classrooms get its picture within 3 s of it becoming ready;
- the roster: 6 invited classrooms, agents online before the lesson, 4 in it, one dropped (with
  its time), one never came, an agent without a camera says so, and "4/6 ready";
- hands from 3 classrooms in a 20-classroom lesson: pinned first in the order raised, visible
  without scrolling at 1366x768, a chime that can be turned off, the H key;
- the end: both pages' camera and microphone (and received) tracks ended, the ended views;
- screenshots at 1366x768 and 1920x1080, in Chinese and English, with no text out of its box
  and no character without a font.

One hub and one browser serve the module's lessons (the end, which records, has its own hub).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from classroom_agent import agent as agent_module
from classroom_agent.agent import ClassroomAgent
from classroom_agent.config import AgentConfig
from classroom_agent.media_sources import SourceSpec
from streamhub.client import LessonClient
from streamhub.client.synthetic import PatternVideoTrack
from streamhub.protocol import DeviceHealth, RaiseHand, Slot, StatsReport
from tests.agent.conftest import fast_options
from tests.support.frames import AGENT_CODECS, first_frame
from tests.support.hub import TEST_HUB, AdminApi, HubFactory, InProcessHub, LessonSetup
from tests.web.conftest import chromium
from tests.web.readable import MISSING_GLYPHS, OVERFLOWING_TEXT, assert_readable, output_dir
from tests.web.test_live_pages import UNNAMED_CONTROLS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(240),
]

SMALL = {"width": 1366, "height": 768}
LARGE = {"width": 1920, "height": 1080}

# getUserMedia as a slow USB camera (or an open permission prompt) has it: the camera is
# answered only when the test says so; the microphone at once. Every track handed out is kept,
# so the test can see that the page stopped them.
HELD_CAMERA = """(() => {
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  window.__releaseCamera = () => release();
  window.__tracks = [];
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (constraints && constraints.video) await gate;
    const stream = await original(constraints);
    window.__tracks.push(...stream.getTracks());
    return stream;
  };
})();"""
TWO_FRAMES = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
KEEP_TRACKS = HELD_CAMERA.replace("if (constraints && constraints.video) await gate;", "")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(make_module_hub: HubFactory) -> InProcessHub:
    return await make_module_hub(**TEST_HUB)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="module")
async def admin(hub: InProcessHub) -> AsyncIterator[AdminApi]:
    api = AdminApi(hub.url)
    yield api
    await api.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return output_dir(tmp_path_factory.getbasetemp())


async def lesson_now(
    admin: AdminApi,
    classrooms: int,
    title: str = "Fractions",
    names: list[str] | None = None,
    start_in_min: float = -5,
) -> LessonSetup:
    """A lesson on today's timetable (what the classroom pages and agents wait for)."""
    school = await admin.post("/api/schools", {"name": f"School of {title}"})
    ids, creds = [], []
    for i in range(classrooms):
        name = names[i] if names else f"Class {i + 1}"
        room = await admin.post("/api/classrooms", {"name": name, "school_id": school["id"]})
        ids.append(room["id"])
        issued = await admin.post(f"/api/classrooms/{room['id']}/device-credential")
        creds.append(issued["credential"])
    start = datetime.now(UTC) + timedelta(minutes=start_in_min)
    await admin.subject("Mathematics")
    lesson = await admin.post(
        "/api/lessons",
        {
            "title": title,
            "subject": "Mathematics",
            "lecturer_name": "Ms Li",
            "scheduled_start": start.isoformat(),
            "scheduled_end": (start + timedelta(hours=1)).isoformat(),
            "classroom_ids": ids,
        },
    )
    link = await admin.post(f"/api/lessons/{lesson['id']}/lecturer-link")
    return LessonSetup(lesson["id"], lesson["join_code"], link["token"], ids, creds)


async def open_page(
    browser: Any,
    url: str,
    errors: list[str],
    viewport: dict[str, int] = SMALL,
    locale: str = "en-US",
    init_script: str | None = None,
) -> Any:
    context = await browser.new_context(viewport=viewport, locale=locale)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    await page.goto(url)
    return page


def lecturer_url(hub: InProcessHub, lesson: LessonSetup, lang: str = "en") -> str:
    return f"{hub.url}/lesson/{lesson.code}?lang={lang}#token={lesson.lecturer_token}"


def classroom_url(hub: InProcessHub, lesson: LessonSetup, index: int, lang: str = "en") -> str:
    return f"{hub.url}/classroom/{lesson.code}?lang={lang}#credential={lesson.credentials[index]}"


async def classroom_client(
    admin: AdminApi, hub: InProcessHub, lesson: LessonSetup, index: int, video: bool = False
) -> LessonClient:
    token = await admin.device_token(lesson.credentials[index])
    client = LessonClient(hub.url, token, codecs=AGENT_CODECS)
    await client.connect({Slot.CAMERA: PatternVideoTrack(160, 120)} if video else {})
    return client


async def tile_states(page: Any) -> dict[str, str]:
    return dict(
        await page.evaluate(
            "() => [...document.querySelectorAll('#tiles .tile')]"
            ".map((li) => [li.dataset.name, li.dataset.state])"
        )
    )


# ---------------------------------------------------------------- go live only with media


async def test_going_live_while_the_camera_is_held_back(
    hub: InProcessHub, admin: AdminApi, browser: Any, shots: Path
) -> None:
    from playwright.async_api import expect

    lesson = await lesson_now(admin, 1, title="Camera late")
    errors: list[str] = []
    page = await open_page(browser, lecturer_url(hub, lesson), errors, init_script=HELD_CAMERA)
    classroom: LessonClient | None = None
    try:
        # The camera has not answered: Go live waits for it, and says so.
        await expect(page.locator("#mic-status")).to_have_attribute("data-status", "ready")
        await expect(page.locator("#camera-status")).to_have_attribute("data-status", "pending")
        await expect(page.locator("#camera-status")).to_have_text("Camera: starting…")
        await expect(page.locator("#go-live")).to_be_disabled()
        assert await page.locator("#go-live").get_attribute("title") == "Waiting for the camera"
        await expect(page.locator("#end-lesson")).to_be_disabled()  # nothing to end yet
        # …and offers to go live without it, knowingly.
        anyway = page.get_by_role("button", name="Go live without camera")
        await expect(anyway).to_be_visible(timeout=10_000)
        await anyway.click()
        await expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=20_000)
        warning = page.locator("#media-warning")
        await expect(warning).to_be_visible()
        await expect(warning).to_contain_text("You are live without your camera")
        await expect(page.locator("#end-lesson")).to_be_enabled()

        classroom = await classroom_client(admin, hub, lesson, 0)
        await expect(page.locator("#ready-count")).to_have_text("1/1 ready", timeout=10_000)
        await expect(warning).to_be_visible()  # it stays while the lecturer is live without it
        await assert_readable(page, shots, "lecturer-live-without-camera-en-1366")

        # The camera answers: it joins the running session, and the classrooms see it.
        released = time.monotonic()
        await page.evaluate("() => window.__releaseCamera()")
        assert classroom.joined is not None
        codec = classroom.joined.video_codec
        frame = await first_frame(classroom.tracks[Slot.LECTURER_VIDEO], codec)
        took = time.monotonic() - released
        print(f"lecturer video at the classroom {took:.2f} s after the camera answered")
        assert frame.width > 0 and frame.height > 0
        await expect(page.locator("#camera-status")).to_have_attribute(
            "data-status", "ready", timeout=10_000
        )
        await expect(warning).to_be_hidden()
        # The camera was opened once, on its own: the microphone never waited for it.
        assert await page.evaluate("() => window.__tracks.map((t) => t.kind).sort()") == [
            "audio",
            "video",
        ]
    finally:
        if classroom is not None:
            await classroom.close()
        await page.context.close()
    assert errors == []


# ---------------------------------------------------------------- roster


async def test_roster_of_invited_classrooms_before_and_during_the_lesson(
    hub: InProcessHub,
    admin: AdminApi,
    browser: Any,
    shots: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.async_api import expect

    # Real agents with synthetic devices; their test pattern small, to spare the CPU.
    real_video_track = agent_module.video_track

    def small_pattern(spec: SourceSpec, camera: Any) -> Any:
        if spec.kind == "testpattern":
            return PatternVideoTrack(160, 120, 10)
        return real_video_track(spec, camera)

    monkeypatch.setattr(agent_module, "video_track", small_pattern)
    names = ["Hill School", "River School", "Lake School", "Pine School", "Rock School", "Sky"]
    lesson = await lesson_now(admin, 6, title="Roster", names=names)
    errors: list[str] = []
    page = await open_page(browser, lecturer_url(hub, lesson), errors)
    agents: list[ClassroomAgent] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        # Nobody yet: every classroom listed, offline, "0/6".
        await expect(page.locator("#ready-count")).to_have_text("0/6 ready", timeout=10_000)
        assert set((await tile_states(page)).values()) == {"offline"}
        await expect(page.locator("#missing")).to_contain_text("Missing: Hill School")

        # Five classroom PCs come online (the sixth never does); one has no camera.
        for index in range(5):
            options = fast_options(poll_interval_s=0.5)
            if names[index] == "Pine School":
                options.video_source = SourceSpec("camera", "/dev/no-such-camera")
            agent = ClassroomAgent(AgentConfig(hub.url, lesson.credentials[index]), options)
            agents.append(agent)
            tasks.append(asyncio.create_task(agent.run_schedule()))
        await expect(page.locator("#ready-count")).to_have_text("5/6 ready", timeout=15_000)
        states = await tile_states(page)
        assert states == {**{n: "waiting" for n in names[:5]}, "Sky": "offline"}, states
        pine = page.locator('.tile[data-name="Pine School"]')
        await expect(pine.locator(".state-chip")).to_have_text("Online, waiting")
        await expect(pine.locator(".problems")).to_contain_text("No camera")
        await expect(page.locator("#missing")).to_have_text("Missing: Sky")
        await assert_readable(page, shots, "lecturer-roster-before-en-1366")

        # Live: they join by themselves.
        await page.get_by_role("button", name="Go live", exact=True).click()
        await expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=20_000)
        await page.wait_for_function(
            "() => document.querySelectorAll('#tiles .tile[data-state=in_lesson]').length === 5",
            timeout=40_000,
        )
        await expect(page.locator("#ready-count")).to_have_text("5/6 ready")

        # Rock School's PC drops out (its process dies: no leave, the socket just closes).
        tasks[4].cancel()
        await asyncio.gather(tasks[4], return_exceptions=True)
        rock = page.locator('.tile[data-name="Rock School"]')
        await expect(rock).to_have_attribute("data-state", "dropped", timeout=10_000)
        await expect(page.locator("#ready-count")).to_have_text("4/6 ready", timeout=10_000)
        dropped = await rock.locator(".state-chip").text_content()
        assert re.fullmatch(r"Dropped at \d\d:\d\d", dropped or ""), dropped
        now = datetime.now().astimezone()
        dropped_at = datetime.strptime((dropped or "")[-5:], "%H:%M")
        assert abs(now.hour * 60 + now.minute - dropped_at.hour * 60 - dropped_at.minute) <= 1
        states = await tile_states(page)
        assert states == {
            **{n: "in_lesson" for n in names[:4]},
            "Rock School": "dropped",
            "Sky": "offline",
        }, states
        await expect(pine.locator(".state-chip")).to_have_text("In the lesson")
        await expect(pine.locator(".problems")).to_contain_text("No camera")
        await expect(page.locator('.tile[data-name="Hill School"] .problems')).not_to_contain_text(
            "No camera"
        )
        await expect(page.locator("#missing")).to_have_text("Missing: Rock School, Sky")
        # Health in words on every tile in the lesson, the numbers a tap away.
        hill = page.locator('.tile[data-name="Hill School"]')
        health = hill.locator(".health")
        await expect(health).to_have_text(re.compile(r"^Network (good|fair|poor)"), timeout=15_000)
        await health.click()
        await expect(hill.locator(".health-numbers")).to_contain_text("Loss")
        await expect(page.locator("#uplink-text")).to_have_text(
            re.compile(r"^Your uplink: (good|fair|poor)"), timeout=15_000
        )
        assert await page.evaluate(UNNAMED_CONTROLS) == []
        await assert_readable(page, shots, "lecturer-roster-live-en-1366")
    finally:
        for agent in agents:
            agent.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await page.context.close()
    assert errors == []


# ---------------------------------------------------------------- hands at scale


async def test_hands_pinned_first_in_a_twenty_classroom_lesson(
    hub: InProcessHub, admin: AdminApi, browser: Any, shots: Path
) -> None:
    from playwright.async_api import expect

    lesson = await lesson_now(admin, 20, title="Twenty rooms")
    errors: list[str] = []
    page = await open_page(browser, lecturer_url(hub, lesson), errors)
    clients: list[LessonClient] = []
    try:
        go_live = page.get_by_role("button", name="Go live", exact=True)
        await expect(go_live).to_be_enabled(timeout=10_000)
        await go_live.click()
        await expect(page.locator("body")).to_have_attribute("data-state", "live", timeout=20_000)
        await expect(page.locator("#tiles .tile")).to_have_count(20)
        # Classes 6, 13 and 19 join, and raise their hands in the order 19, 6, 13; class 2
        # joins and does not.
        joining = {i: await classroom_client(admin, hub, lesson, i - 1) for i in (2, 6, 13, 19)}
        clients += joining.values()
        await expect(page.locator("#ready-count")).to_have_text("4/20 ready", timeout=15_000)
        for number in (19, 6, 13):
            await joining[number].request(RaiseHand())
            await expect(page.locator(f'.tile[data-name="Class {number}"]')).to_have_attribute(
                "data-hand", "true"
            )
        first = await page.evaluate(
            "() => [...document.querySelectorAll('#tiles .tile')].slice(0, 4)"
            ".map((li) => li.dataset.name)"
        )
        assert first == ["Class 19", "Class 6", "Class 13", "Class 1"], first
        orders = await page.locator(
            "#tiles .tile[data-hand='true'] .hand-order"
        ).all_text_contents()
        assert orders == ["1", "2", "3"]
        names = await page.locator("#hands li .hand-name").all_text_contents()
        assert names == ["Class 19", "Class 6", "Class 13"]
        # In sight without scrolling, on the laptop screen most lecturers have.
        assert await page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        ) == [SMALL["width"], SMALL["height"]]
        for number in (19, 6, 13):
            box = await page.locator(f'.tile[data-name="Class {number}"]').bounding_box()
            panel = await page.locator(".tiles-panel").bounding_box()
            assert box is not None and panel is not None
            assert box["y"] >= panel["y"] and box["y"] + box["height"] <= SMALL["height"], box
            assert (
                box["x"] >= panel["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"]
            ), box
        # A chime for each raised hand…
        assert await page.evaluate("() => document.body.dataset.chimes") == "3"
        await assert_readable(page, shots, "lecturer-hands-20-en-1366")
        # …that the lecturer can turn off.
        chime = page.locator("#chime")
        await expect(chime).to_have_attribute("aria-pressed", "true")
        await chime.click()
        await expect(chime).to_have_attribute("aria-pressed", "false")
        await expect(chime).to_have_attribute("aria-label", "Chime when a hand is raised: off")
        await joining[2].request(RaiseHand())
        await expect(page.locator("#hands li")).to_have_count(4)
        assert await page.evaluate("() => document.body.dataset.chimes") == "3"

        # The keyboard: H reaches the first raised hand; Enter brings it on stage, which
        # lowers that hand and unpins it.
        await page.locator("body").click(position={"x": 5, "y": 740})
        await page.keyboard.press("h")
        focused = await page.evaluate("() => document.activeElement.getAttribute('aria-label')")
        assert focused == "Bring on stage: Class 19"
        await page.keyboard.press("Enter")
        staged = page.locator('.tile[data-name="Class 19"]')
        await expect(staged).to_have_attribute("data-stage", "true", timeout=5_000)
        await expect(staged).to_have_attribute("data-hand", "false")
        names = await page.locator("#hands li .hand-name").all_text_contents()
        assert names == ["Class 6", "Class 13", "Class 2"]
        first = await page.evaluate(
            "() => [...document.querySelectorAll('#tiles .tile')].slice(0, 3)"
            ".map((li) => li.dataset.name)"
        )
        assert first == ["Class 6", "Class 13", "Class 2"]
    finally:
        for client in clients:
            await client.close()
        await page.context.close()
    assert errors == []


# ---------------------------------------------------------------- screenshots


async def test_pages_are_readable_in_both_languages_on_both_screens(
    hub: InProcessHub, admin: AdminApi, browser: Any, shots: Path
) -> None:
    from playwright.async_api import expect

    # The checks themselves: they do catch a missing glyph and text out of its box.
    errors: list[str] = []
    probe = await open_page(browser, f"{hub.url}/lesson/NOCODE?lang=en", errors)
    await probe.evaluate(
        """() => { const d = document.createElement("div");
            d.style.cssText = "width: 40px; white-space: nowrap";
            d.textContent = "A rather long line of text \\u{1FAE8}";
            document.body.prepend(d); }"""
    )
    assert "\U0001fae8 (U+1FAE8)" in await probe.evaluate(MISSING_GLYPHS)
    assert any("runs out of its box" in p for p in await probe.evaluate(OVERFLOWING_TEXT))
    await probe.context.close()

    names = ["第一小学 三年级一班", "Riverside Primary, Year 3", "山区中心校", "Lake"]
    names += [f"Village school {i}" for i in range(5, 9)]
    lesson = await lesson_now(admin, 8, title="分数的初步认识 Fractions", names=names)

    async def both_screens(pages: dict[str, Any], lang: str) -> None:
        for size, label in ((SMALL, "1366"), (LARGE, "1920")):
            for name, page in pages.items():
                await page.set_viewport_size(size)
                await page.wait_for_function(
                    "(w) => document.documentElement.clientWidth === w", arg=size["width"]
                )
                # Two frames: the grid's columns follow a resize observer.
                await page.evaluate(TWO_FRAMES)
                await assert_readable(page, shots, f"{name}-{lang}-{label}")
                fits = await page.evaluate(
                    "() => [document.documentElement.scrollWidth,"
                    " document.documentElement.scrollHeight]"
                )
                assert fits == [size["width"], size["height"]], (name, fits)
                assert await page.evaluate(UNNAMED_CONTROLS) == []

    # Waiting, in Chinese: the lesson, its time and lecturer, and this room's devices.
    waiting = await open_page(
        browser, classroom_url(hub, lesson, 0, "zh-CN"), errors, locale="zh-CN"
    )
    await expect(waiting.locator("#waiting-title")).to_have_text("分数的初步认识 Fractions")
    await expect(waiting.locator("#check-mic")).to_have_text("麦克风：正常")
    await both_screens({"classroom-waiting": waiting}, "zh-CN")
    await waiting.context.close()

    await admin.post(f"/api/lessons/{lesson.lesson_id}/start")
    clients = [await classroom_client(admin, hub, lesson, i, video=True) for i in (1, 2, 3)]
    try:
        await clients[0].request(RaiseHand())
        await clients[2].request(RaiseHand())
        await clients[1].send(StatsReport(devices=DeviceHealth(camera="missing", speaker="off")))
        for lang, locale in (("en", "en-US"), ("zh-CN", "zh-CN")):
            errors = []
            teacher = await open_page(
                browser, lecturer_url(hub, lesson, lang), errors, locale=locale
            )
            room = await open_page(
                browser, classroom_url(hub, lesson, 0, lang), errors, locale=locale
            )
            try:
                await teacher.locator("#go-live").click()
                await expect(teacher.locator("body")).to_have_attribute(
                    "data-state", "live", timeout=20_000
                )
                await expect(room.locator("#connection")).to_have_attribute(
                    "data-state", "live", timeout=20_000
                )
                await teacher.get_by_label("消息" if lang == "zh-CN" else "Message").fill(
                    "请打开课本第 12 页" if lang == "zh-CN" else "Open your books at page 12"
                )
                await teacher.locator("#chat-send").click()
                await expect(room.locator(".banner")).to_have_count(1, timeout=10_000)
                await expect(teacher.locator("#uplink")).to_have_attribute(
                    "data-quality", re.compile("good|fair|poor"), timeout=15_000
                )
                await expect(teacher.locator("#ready-count")).to_contain_text("4/8")
                await both_screens({"lecturer-live": teacher, "classroom-live": room}, lang)
                if lang == "zh-CN":
                    # The end, in Chinese: the confirmation and both ended views.
                    await teacher.set_viewport_size(SMALL)
                    await teacher.get_by_role("button", name="结束课程").click()
                    await assert_readable(teacher, shots, "lecturer-end-confirmation-zh-CN-1366")
                    await teacher.locator("#end-confirm").click()
                    await expect(teacher.locator("#ended-view")).to_be_visible(timeout=10_000)
                    await expect(room.locator("#ended-view")).to_be_visible(timeout=10_000)
                    await expect(teacher.locator("#ended-recording")).to_have_text(
                        "本节课没有录像。"
                    )
                    await both_screens({"lecturer-ended": teacher, "classroom-ended": room}, lang)
            finally:
                await teacher.context.close()
                await room.context.close()
            assert errors == [], lang
    finally:
        for client in clients:
            await client.close()


# ---------------------------------------------------------------- the end


async def test_both_pages_end_with_the_lesson(browser: Any, shots: Path, tmp_path: Path) -> None:

    # This lesson is recorded: the lecturer is told where the recording will appear.
    async with InProcessHub(
        tmp_path / "hub", signaling={"joins_per_minute": 1000}, recorder={"disk_floor_mb": 0}
    ) as hub:
        admin = AdminApi(hub.url)
        try:
            lesson = await lesson_now(admin, 1, title="Last lesson of the day")
            # The same lecturer and classroom again tomorrow.
            tomorrow = datetime.now(UTC) + timedelta(days=1)
            await admin.post(
                "/api/lessons",
                {
                    "title": "Algebra",
                    "subject": "Mathematics",
                    "lecturer_name": "Ms Li",
                    "scheduled_start": tomorrow.isoformat(),
                    "scheduled_end": (tomorrow + timedelta(hours=1)).isoformat(),
                    "classroom_ids": lesson.classroom_ids,
                },
            )
            await ended_pages(hub, lesson, browser, shots)
        finally:
            await admin.close()


async def ended_pages(hub: InProcessHub, lesson: LessonSetup, browser: Any, shots: Path) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    teacher = await open_page(browser, lecturer_url(hub, lesson), errors, init_script=KEEP_TRACKS)
    room = await open_page(browser, classroom_url(hub, lesson, 0), errors, init_script=KEEP_TRACKS)
    try:
        # Waiting: the classroom says for what, when and with whom; nothing claims to be live.
        await expect(room.locator("#waiting-view")).to_be_visible(timeout=15_000)
        await expect(room.locator("#waiting-title")).to_have_text("Last lesson of the day")
        await expect(room.locator("#waiting-when")).to_contain_text("Lecturer: Ms Li")
        await expect(room.locator("#connection")).to_have_text("Waiting for the lesson to start")
        await expect(room.locator("#recording")).to_be_hidden()
        await assert_readable(room, shots, "classroom-waiting-en-1366")

        await teacher.get_by_role("button", name="Go live", exact=True).click()
        await expect(teacher.locator("body")).to_have_attribute(
            "data-state", "live", timeout=20_000
        )
        await expect(room.locator("#connection")).to_have_attribute(
            "data-state", "live", timeout=30_000
        )
        await expect(room.locator("#recording")).to_be_visible(timeout=15_000)
        await room.get_by_role("button", name="Raise hand").click()
        await expect(teacher.locator("#hands li")).to_have_count(1, timeout=10_000)
        await teacher.wait_for_function(
            "() => [...document.querySelectorAll('#tiles video')].some((v) => v.videoWidth > 0)",
            timeout=20_000,
        )
        # Every track each page holds: its own camera and microphone, and what it receives.
        keep = """() => { window.__received = [...document.querySelectorAll('video, audio')]
            .filter((v) => v.srcObject).flatMap((v) => v.srcObject.getTracks())
            .filter((t) => !window.__tracks.includes(t));
            return [window.__tracks.length, window.__received.length]; }"""
        own, received = await teacher.evaluate(keep)
        assert own == 2 and received >= 1, (own, received)
        own, received = await room.evaluate(keep)
        assert own == 2 and received >= 1, (own, received)

        # A styled confirmation that names what ends; keeping on teaching changes nothing.
        await teacher.get_by_role("button", name="End lesson").click()
        dialog = teacher.locator("#end-dialog")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("“Last lesson of the day” ends now")
        await expect(dialog).to_contain_text("the classroom in the lesson is disconnected")
        await expect(dialog).to_contain_text("the recording stops")
        await assert_readable(teacher, shots, "lecturer-end-confirmation-en-1366")
        await dialog.get_by_role("button", name="Keep teaching").click()
        await expect(dialog).to_be_hidden()
        await expect(teacher.locator("body")).to_have_attribute("data-state", "live")
        await teacher.get_by_role("button", name="End lesson").click()
        await dialog.get_by_role("button", name="End the lesson").click()

        # Both pages end: devices off, nothing received, no stage, screen or hands.
        ended = """() => [...window.__tracks, ...window.__received]
            .every((t) => t.readyState === "ended")"""
        for page in (teacher, room):
            await page.wait_for_function(ended, timeout=10_000)
            assert await page.evaluate(
                "() => [...document.querySelectorAll('video, audio')].every((v) => !v.srcObject)"
            )
        await expect(teacher.locator("#ended-view")).to_be_visible()
        await expect(teacher.locator("#console")).to_be_hidden()
        await expect(teacher.locator("#ended-next")).to_contain_text("Algebra", timeout=10_000)
        await expect(teacher.locator("#ended-recording")).to_contain_text(
            "will appear in the library"
        )
        link = teacher.get_by_role("link", name="open the library")
        assert re.fullmatch(r"/library#recording=\d+", await link.get_attribute("href") or "")
        for hidden in ("#recording", "#share-screen", "#end-lesson", "#go-live", "#uplink"):
            await expect(teacher.locator(hidden)).to_be_hidden()
        await expect(teacher.locator("#tiles li")).to_have_count(0)
        await expect(teacher.locator("#hands li")).to_have_count(0)
        await assert_readable(teacher, shots, "lecturer-ended-en-1366")

        await expect(room.locator("#ended-view")).to_be_visible()
        await expect(room.locator("#ended-next")).to_contain_text("Next lesson: Algebra")
        for hidden in ("#recording", "#on-stage", "#stage-box", "#raise-hand", "#overlay"):
            await expect(room.locator(hidden)).to_be_hidden()
        assert await room.locator("#banners li").count() == 0
        await assert_readable(room, shots, "classroom-ended-en-1366")
    finally:
        await teacher.context.close()
        await room.context.close()
    assert errors == []
