"""Classrooms answer back, the whole lesson with real parts: the lecturer console in Chromium asks
a 4-option question, a browser classroom answers with its room's counts and a classroom agent
answers by its keys; the lecturer's bars show both, the answer is revealed on the classroom
page; quick replies from both reach the lecturer's tiles and are acknowledged; after the lesson
the recording's replay page lists the question's chapter and the CSV export holds it all."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path
from typing import Any

import pytest

from classroom_agent.agent import ClassroomAgent
from classroom_agent.config import AgentConfig
from tests.agent.conftest import fast_options
from tests.recorder.conftest import recording_hub  # noqa: F401
from tests.support.hub import ADMIN_KEY, AdminApi, InProcessHub
from tests.support.recordings import wait_recording
from tests.support.wait import eventually
from tests.web.test_live_pages import open_page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

QUESTION = "Which is a prime?"


async def test_two_kinds_of_classroom_answer_and_the_lesson_keeps_it(
    hub: InProcessHub, admin: AdminApi, browser: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    started = time.monotonic()
    lesson = await admin.lesson(classrooms=2, start=False)
    errors: list[str] = []

    # -- the lecturer goes live from the console (the hub records the lesson)
    lecturer = await open_page(browser, errors, "lecturer")
    await lecturer.goto(f"{hub.url}/lesson/{lesson.code}?lang=en#token={lesson.lecturer_token}")
    go_live = lecturer.get_by_role("button", name="Go live")
    await expect(go_live).to_be_enabled(timeout=20_000)
    await go_live.click()
    await expect(lecturer.locator("#connection")).to_have_text("Live", timeout=20_000)
    await expect(lecturer.locator("#recording")).not_to_have_text("Not recording", timeout=20_000)

    # -- Class 1 is a classroom agent (headless, synthetic media); Class 2 a browser page
    agent = ClassroomAgent(AgentConfig(hub.url, lesson.credentials[0]), fast_options())
    agent_task = asyncio.create_task(agent.join_lesson(lesson.code))
    try:
        classroom = await open_page(browser, errors, "classroom")
        await classroom.goto(
            f"{hub.url}/classroom/{lesson.code}?lang=en#credential={lesson.credentials[1]}"
        )
        await expect(classroom.locator("body")).to_have_attribute(
            "data-state", "live", timeout=20_000
        )
        session = await eventually(lambda: agent.session and agent.session.participant_id, 30)
        session = agent.session
        assert session is not None
        agent_tile = lecturer.locator('.tile[data-name="Class 1"]')
        page_tile = lecturer.locator('.tile[data-name="Class 2"]')
        await expect(agent_tile).to_be_visible(timeout=20_000)
        await expect(page_tile).to_be_visible(timeout=20_000)

        # -- the lecturer asks a 4-option question from the console
        await lecturer.locator("#question-ask summary").click()
        await lecturer.locator("#question-text-input").fill(QUESTION)
        await lecturer.locator("#question-kind").select_option("choice")
        await lecturer.locator("#question-options").fill("4")
        await lecturer.get_by_role("button", name="Ask", exact=True).click()
        await expect(lecturer.locator("#question-bars li")).to_have_count(4, timeout=10_000)

        # -- the browser classroom enters its room's counts
        box = classroom.locator("#question-box")
        await expect(box).to_be_visible(timeout=10_000)
        await expect(box.locator("#question-text")).to_have_text(QUESTION)
        await box.get_by_label("How many chose A").fill("12")
        await box.get_by_label("How many chose B").fill("25")
        await box.get_by_label("How many chose C").fill("3")
        await box.locator("#answer-submit").click()
        await expect(box.locator("#question-status")).to_have_text(
            "Your room's answer was sent.", timeout=10_000
        )

        # -- the agent's room agrees on B: key "2", through the agent's key handling
        await eventually(lambda: session.question is not None and session.question.id == 1, 15)
        agent.on_key("digit:2")

        # -- the lecturer's bars and per-classroom lines show both answers
        rooms = lecturer.locator("#question-rooms li")
        await expect(lecturer.locator("#question-answered")).to_have_text(
            "Answered by 2 classrooms", timeout=15_000
        )
        await expect(rooms).to_have_count(2, timeout=10_000)
        await expect(rooms.filter(has_text="Class 1:")).to_have_text("Class 1: B (whole room)")
        await expect(rooms.filter(has_text="Class 2:")).to_have_text("Class 2: A 12, B 25, C 3")
        bars = lecturer.locator("#question-bars li .answer-count")
        await expect(bars).to_have_text(["12", "26", "3", "0"])

        # -- the answer is revealed on the classroom page (and on the agent's card)
        await lecturer.locator("#question-correct").select_option("B")
        await lecturer.get_by_role("button", name="Show the answer").click()
        await expect(box.locator("#question-status")).to_have_text(
            "Correct answer: B", timeout=10_000
        )
        await eventually(lambda: session.question is not None and session.question.correct, 15)
        assert session.question is not None and session.question.correct == "B"
        await lecturer.screenshot(path=str(artifacts / "answers-lecturer.png"))
        await classroom.screenshot(path=str(artifacts / "answers-classroom.png"))
        await lecturer.get_by_role("button", name="Close the question").click()
        await expect(box).to_be_hidden(timeout=10_000)

        # -- quick replies from the page and from the agent's key (F3) reach the tiles and are
        # acknowledged there
        await classroom.get_by_role("button", name="Can't hear").click()
        agent.on_key("reply:slower")
        page_reply = page_tile.locator('.tile-replies button[data-reply="cant_hear"]')
        agent_reply = agent_tile.locator('.tile-replies button[data-reply="slower"]')
        await expect(page_reply).to_be_visible(timeout=10_000)
        await expect(agent_reply).to_be_visible(timeout=10_000)
        await page_reply.click()
        await agent_reply.click()
        await expect(lecturer.locator(".tile-replies button")).to_have_count(0, timeout=10_000)

        # -- the lecturer ends the lesson
        await lecturer.get_by_role("button", name="End lesson").click()
        await lecturer.get_by_role("button", name="End the lesson").click()
        await expect(lecturer.locator("#connection")).to_have_text("Lesson ended", timeout=15_000)
        await expect(classroom.locator("#ended-view")).to_be_visible(timeout=15_000)
    finally:
        agent.stop()
        await asyncio.wait_for(agent_task, 30)

    # -- the replay page lists the question's chapter
    recording = await wait_recording(admin.http, lesson.lesson_id, timeout=120)
    library = await open_page(browser, errors, "library")
    await library.goto(f"{hub.url}/library?lang=en")
    await library.get_by_label("Staff token or admin key").fill(ADMIN_KEY)
    await library.get_by_role("button", name="Sign in").click()
    await expect(library.locator(f'.rec-card[data-id="{recording["id"]}"]')).to_be_visible(
        timeout=15_000
    )
    await library.get_by_role("button", name="Play Fractions").click()
    chapter = library.locator('#chapters button[data-kind="question"]')
    await expect(chapter).to_have_count(1, timeout=15_000)
    await expect(chapter).to_contain_text(f"Question 1: {QUESTION}")
    await library.screenshot(path=str(artifacts / "answers-replay.png"))

    # -- the CSV export holds both rooms' answers with their times, and both quick replies
    response = await admin.http.get(
        f"/api/lessons/{lesson.lesson_id}/answers", params={"format": "csv"}
    )
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    answers = {r["classroom_id"]: r for r in rows if r["kind"] == "answer" and r["question"] == "1"}
    agent_room, page_room = (str(c) for c in lesson.classroom_ids)
    assert set(answers) == {agent_room, page_room}, rows
    assert answers[agent_room]["answer"] == "B"
    assert answers[page_room]["answer"] == "A=12 B=25 C=3"
    assert all(r["at"] for r in answers.values()), answers
    replies = {(r["classroom_id"], r["answer"]) for r in rows if r["kind"] == "quick_reply"}
    assert replies == {(agent_room, "slower"), (page_room, "cant_hear")}, rows
    assert [r["question"] for r in rows if r["kind"] == "question"] == ["1"]

    assert errors == []
    assert time.monotonic() - started < 150
