"""The administration page (/admin) in a real headless Chromium against a real hub: sign in,
schools, classrooms, a lesson inviting a classroom, a device credential shown once (its agent
command works until it is revoked in the page), going live, the lecturer link."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from playwright.async_api import Page, expect

from classroom_agent.hub_api import DeviceApi
from streamhub.feed.signing import verify
from streamhub.protocol import DeviceHealth
from tests.support.hub import ADMIN_KEY, AdminApi, InProcessHub
from tests.support.term import Term
from tests.support.wait import eventually
from tests.support.webhook_receiver import WebhookReceiver
from tests.web.fixtures_admin import BrowserPage, staff_page_fixture  # noqa: F401

pytestmark = pytest.mark.browser


async def exchange(hub: InProcessHub, credential: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        return await client.post(
            "/api/device/token",
            json={"lesson_code": None},
            headers={"Authorization": f"Bearer {credential}"},
        )


async def open_tab(page: Page, hub: InProcessHub, tab: str) -> None:
    """Sign in to /admin with the admin key and open one of its tabs."""
    await page.goto(f"{hub.url}/admin?lang=en")
    await page.get_by_label("Admin key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("tab", name=tab).click()


async def test_admin_flow(hub: InProcessHub, staff_page: BrowserPage) -> None:
    page = staff_page.page
    await page.goto(f"{hub.url}/admin?lang=en")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.locator("#signin-login")).to_be_focused()
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("admin-signin")

    # sign in
    await page.get_by_label("Admin key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("tab", name="Schools")).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#schools-empty")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('streamhub.admin.key')") == ADMIN_KEY

    # schools: create two, rename one, delete it
    schools = page.locator("#panel-schools")
    for name, region in (("Riverside Primary", "North"), ("Temporary School", "")):
        await schools.get_by_label("Name").fill(name)
        await schools.get_by_label("Region").fill(region)
        await schools.get_by_role("button", name="Save").click()
        await expect(page.locator("#schools-body tr", has_text=name)).to_be_visible()
    await page.get_by_role("button", name="Edit school Temporary School").click()
    await expect(schools.get_by_label("Name")).to_have_value("Temporary School")
    await schools.get_by_label("Name").fill("Temporary School 2")
    await schools.get_by_role("button", name="Save").click()
    await expect(page.locator("#schools-body tr", has_text="Temporary School 2")).to_be_visible()
    await page.get_by_role("button", name="Delete school Temporary School 2").click()
    await expect(page.locator("#confirm-dialog")).to_be_visible()
    await page.locator("#confirm-yes").click()
    await expect(page.locator("#schools-body tr")).to_have_count(1)
    await expect(page.get_by_role("status")).to_contain_text("deleted")

    # classrooms: create one in the school; its credentials pane opens
    await page.get_by_role("tab", name="Classrooms").click()
    rooms = page.locator("#panel-classrooms")
    await expect(rooms.locator("#classroom-school")).to_have_value(re.compile(r"\d+"))
    await rooms.locator("#classroom-name").fill("Room 101")
    await rooms.locator("#classroom-region").fill("North")
    await rooms.get_by_role("button", name="Create classroom").click()
    await expect(page.locator("#classrooms-body tr", has_text="Room 101")).to_be_visible()
    await expect(page.locator("#credentials-pane")).to_be_visible()
    await expect(page.locator("#credentials-empty")).to_be_visible()

    # subjects and grades: the county's lists lessons pick from (added, renamed, retired)
    await page.get_by_role("tab", name="Subjects and grades").click()
    lists = page.locator("#panel-subjects")
    for name in ("Maths", "Latin"):
        await lists.get_by_label("New subject").fill(name)
        await lists.get_by_role("button", name="Add subject").click()
        await expect(page.locator("#subjects-body tr", has_text=name)).to_be_visible()
    await page.get_by_role("button", name="Rename Maths").click()
    await lists.get_by_label("New name for Maths").fill("Mathematics")
    await lists.get_by_role("button", name="Save").click()
    await expect(page.locator("#subjects-body tr", has_text="Mathematics")).to_be_visible()
    await page.get_by_role("button", name="Retire Latin").click()
    await expect(page.get_by_role("button", name="Bring back Latin")).to_be_visible()
    await lists.get_by_label("New grade").fill("Grade 7")
    await lists.get_by_role("button", name="Add grade").click()
    await expect(page.locator("#grades-body tr", has_text="Grade 7")).to_be_visible()
    assert await staff_page.unnamed_controls() == []

    # lessons: schedule one that invites the classroom
    await page.get_by_role("tab", name="Lessons").click()
    form = page.locator("#lesson-form")
    await form.get_by_label("Title").fill("Algebra basics")
    subject = form.get_by_label("Subject")
    await expect(subject.locator("option")).to_have_text(["None", "Mathematics"])  # not Latin
    await subject.select_option(label="Mathematics")
    await form.get_by_label("Grade").select_option(label="Grade 7")
    await form.get_by_label("Description").fill("Letters for numbers")
    await form.get_by_label("Lecturer name").fill("Ms Li")
    # Tomorrow (the page's inputs are in the browser's time zone, the machine's).
    day = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    await form.get_by_label("Start").fill(f"{day}T08:00")
    await form.get_by_label("End").fill(f"{day}T09:00")
    await form.get_by_label("Room 101 (Riverside Primary)").check()
    await form.get_by_role("button", name="Save").click()
    row = page.locator("#lessons-body tr", has_text="Algebra basics")
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("Room 101")
    await expect(row).to_contain_text("Scheduled")
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        listed = await client.get("/api/lessons", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    lesson = listed.json()["items"][0]
    assert lesson["lecturer_name"] == "Ms Li" and len(lesson["classroom_ids"]) == 1
    assert lesson["subject"] == "Mathematics" and lesson["grade_id"] is not None
    assert lesson["description"] == "Letters for numbers"
    assert lesson["open_to_all"] is False  # the box was left unticked: invite-only
    assert lesson["scheduled_end"] > lesson["scheduled_start"]
    await staff_page.screenshot("admin-lessons")

    # issue a device credential: shown once, with the agent command to paste
    await page.get_by_role("tab", name="Classrooms").click()
    await page.get_by_role("button", name="Device credentials of Room 101").click()
    await page.get_by_label("Label (optional)").fill("front PC")
    await page.get_by_role("button", name="Issue device credential").click()
    dialog = page.get_by_role("dialog", name="Device credential issued")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("shown only once")
    command = await dialog.get_by_label("Command to paste on the classroom PC").input_value()
    match = re.search(r"--credential (\S+)", command)
    assert match, command
    credential = match.group(1)
    assert command.startswith("classroom-agent enroll --hub ")
    assert await dialog.get_by_label("Credential", exact=True).input_value() == credential
    await dialog.get_by_role("button", name="Copy command").click()
    await expect(dialog.get_by_role("status")).not_to_be_empty()
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("admin-credential-dialog")
    await dialog.get_by_role("button", name="I have copied it").click()
    await expect(dialog).to_be_hidden()
    # The secret is wiped from the page once the dialog is closed.
    await expect(page.locator("#issued-credential")).to_have_value("")
    cred_row = page.locator("#credentials-body tr", has_text="front PC")
    await expect(cred_row).to_contain_text("Active")

    # not live yet: the exchange is refused; start it in the page, then it works
    assert (await exchange(hub, credential)).status_code == 404
    await page.get_by_role("tab", name="Lessons").click()
    await page.get_by_role("button", name="Start lesson Algebra basics").click()
    await expect(row).to_contain_text("Live")
    response = await exchange(hub, credential)
    assert response.status_code == 200, response.text
    assert response.json()["lesson_title"] == "Algebra basics"

    # the lecturer link, with a copy button
    await page.get_by_role("button", name="Lecturer link for Algebra basics").click()
    link_dialog = page.get_by_role("dialog", name="Lecturer link")
    await expect(link_dialog).to_be_visible()
    url = await link_dialog.get_by_label("Link for the lecturer").input_value()
    assert re.search(rf"/lesson/{lesson['join_code']}#token=[\w.-]+$", url), url
    await link_dialog.get_by_role("button", name="Copy lecturer link").click()
    await link_dialog.get_by_role("button", name="Close").click()
    await expect(link_dialog).to_be_hidden()

    # the link is listed under "Links and tokens", and revoking it there refuses it at once
    link_token = url.split("#token=", 1)[1]
    await page.get_by_role("tab", name="Links and tokens").click()
    link_row = page.locator("#access-body tr", has_text="Lesson Algebra basics")
    await expect(link_row).to_contain_text("Lecturer link")
    await expect(link_row).to_contain_text("Active")
    await staff_page.screenshot("admin-access")
    await page.get_by_role(
        "button", name="Revoke the link or token for Lesson Algebra basics"
    ).click()
    await page.locator("#confirm-yes").click()
    await expect(page.locator("#access-empty")).to_be_visible()
    await page.get_by_label("Show revoked and expired").check()
    await expect(link_row).to_contain_text("Revoked")
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        refused = await client.get(
            f"/api/lessons/{lesson['id']}", headers={"Authorization": f"Bearer {link_token}"}
        )
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"

    # revoke in the page: the credential stops working at once
    await page.get_by_role("tab", name="Classrooms").click()
    await page.get_by_role("button", name="Revoke credential front PC").click()
    await page.locator("#confirm-yes").click()
    await expect(cred_row).to_contain_text("Revoked")
    response = await exchange(hub, credential)
    assert response.status_code == 401, response.text
    await staff_page.screenshot("admin-classrooms")

    # opening the lesson to every classroom is an explicit tick in its form
    await page.get_by_role("tab", name="Lessons").click()
    await page.get_by_role("button", name="Edit lesson Algebra basics").click()
    await expect(page.get_by_label("Open to every classroom")).not_to_be_checked()
    await page.get_by_label("Open to every classroom").check()
    await page.locator("#lesson-form").get_by_role("button", name="Save").click()
    await expect(row).to_contain_text("Any classroom")
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        opened = await client.get(
            f"/api/lessons/{lesson['id']}", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
    assert opened.json()["open_to_all"] is True

    # end the lesson from the page
    await page.get_by_role("button", name="End lesson Algebra basics").click()
    await page.locator("#confirm-yes").click()
    await expect(row).to_contain_text("Ended")

    # a lesson whose end passed without going live is "Missed": rescheduled, not started
    yesterday = datetime.now(UTC) - timedelta(days=1)
    async with httpx.AsyncClient(
        base_url=hub.url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        created = await client.post(
            "/api/lessons",
            json={
                "title": "Geometry",
                "scheduled_start": yesterday.isoformat(),
                "scheduled_end": (yesterday + timedelta(hours=1)).isoformat(),
                "classroom_ids": [],
            },
        )
        assert created.status_code == 201 and created.json()["missed"] is True, created.text
        missed = (await client.get("/api/lessons", params={"status": "missed"})).json()
        scheduled = (await client.get("/api/lessons", params={"status": "scheduled"})).json()
    assert [x["title"] for x in missed["items"]] == ["Geometry"]
    assert scheduled["items"] == []
    await page.get_by_label("Status").select_option("missed")
    missed_row = page.locator("#lessons-body tr", has_text="Geometry")
    await expect(missed_row).to_contain_text("Missed")
    await expect(page.locator("#lessons-body tr")).to_have_count(1)
    await expect(page.get_by_role("button", name="Edit lesson Geometry")).to_be_visible()
    await expect(page.get_by_role("button", name="Start lesson Geometry")).to_have_count(0)

    assert await staff_page.unnamed_controls() == []
    assert staff_page.console_errors == []


async def test_admin_wrong_key_and_chinese(hub: InProcessHub, staff_page: BrowserPage) -> None:
    page = staff_page.page
    await page.goto(f"{hub.url}/admin?lang=zh-CN")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await page.get_by_label("管理员密钥").fill("not-the-key")
    await page.get_by_role("button", name="登录").click()
    alert = page.locator("#signin-error")
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text("此密钥无效")
    await expect(alert).to_contain_text("401")
    await expect(page.locator("#app-view")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('streamhub.admin.key')") is None
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("admin-signin-error-zh")

    # a signed-in session survives a reload (sessionStorage), and sign-out clears it
    await page.get_by_label("管理员密钥").fill(ADMIN_KEY)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("tab", name="学校")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("tab", name="学校")).to_be_visible()
    await page.get_by_role("button", name="退出登录").click()
    await expect(page.get_by_label("管理员密钥")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('streamhub.admin.key')") is None
    # the refused sign-in logs one failed request (401) in the console; nothing else
    assert staff_page.errors_except("status of 401") == []


async def test_inviting_from_two_hundred_classrooms(
    hub: InProcessHub, staff_page: BrowserPage
) -> None:
    """The invitation picker at a county's size: narrowed by school and by text, and what it
    shows invited at once; narrowing never changes who is invited."""
    rooms: dict[int, tuple[str, str]] = {}  # id -> (school, name)
    async with httpx.AsyncClient(
        base_url=hub.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        for school_name in ("Hill School", "River School", "Lake School", "Pine School"):
            school = (await client.post("/api/schools", json={"name": school_name})).json()
            for grade in range(1, 6):
                for n in range(1, 11):
                    name = f"{grade}年级{n}班"  # as Chinese schools name them
                    created = await client.post(
                        "/api/classrooms",
                        json={"name": name, "school_id": school["id"], "region": "North"},
                    )
                    rooms[created.json()["id"]] = (school_name, name)
    page = staff_page.page
    await open_tab(page, hub, "Lessons")
    form = page.locator("#lesson-form")
    count = page.locator("#lesson-room-count")
    await expect(count).to_have_text("0 invited · 200 of 200 shown")
    await form.get_by_label("Title").fill("County assembly")
    day = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    await form.get_by_label("Start").fill(f"{day}T08:00")
    await form.get_by_label("End").fill(f"{day}T09:00")

    # every classroom of one school
    await form.get_by_label("School", exact=True).select_option(label="Lake School")
    await expect(count).to_have_text("0 invited · 50 of 200 shown")
    await form.get_by_role("button", name="Invite all shown", exact=True).click()
    await expect(count).to_have_text("50 invited · 50 of 200 shown")
    # then every fifth grade, whatever the school
    await form.get_by_label("School", exact=True).select_option("")
    await form.get_by_label("Find classrooms").fill("5年级")
    await expect(count).to_have_text("50 invited · 40 of 200 shown")
    await form.get_by_role("button", name="Invite all shown", exact=True).click()
    await expect(count).to_have_text("80 invited · 40 of 200 shown")
    # but not the Lake School's fifth grade after all
    await form.get_by_label("Find classrooms").fill("lake 5年级")
    await expect(count).to_have_text("80 invited · 10 of 200 shown")
    await form.get_by_role("button", name="Remove all shown").click()
    await expect(count).to_have_text("70 invited · 10 of 200 shown")
    # one box by hand, found by text
    await form.get_by_label("Find classrooms").fill("pine 1年级7班")
    await expect(count).to_have_text("70 invited · 1 of 200 shown")
    await form.get_by_label("1年级7班 (Pine School)").check()
    await expect(count).to_have_text("71 invited · 1 of 200 shown")
    await form.get_by_role("button", name="Save").click()
    await expect(page.locator("#lessons-body tr", has_text="County assembly")).to_be_visible()

    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        listed = await client.get("/api/lessons", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    (lesson,) = listed.json()["items"]
    invited = {rooms[i] for i in lesson["classroom_ids"]}
    expected = {
        (school, name)
        for school, name in rooms.values()
        if (school == "Lake School") != name.startswith("5年级")
    } | {("Pine School", "1年级7班")}
    assert invited == expected
    assert staff_page.console_errors == []


async def test_the_fleet_tab_shows_which_classrooms_will_fail(
    hub: InProcessHub, staff_page: BrowserPage
) -> None:
    """Sunday evening: the admin opens Fleet and sees the PC whose camera is missing and the
    classroom whose PC was never enrolled, and narrows the list to the problems."""
    async with httpx.AsyncClient(
        base_url=hub.url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        school = (await client.post("/api/schools", json={"name": "Hill School"})).json()
        rooms = {}
        for name in ("Room 1", "Room 2", "Room 3"):
            room = await client.post(
                "/api/classrooms", json={"name": name, "school_id": school["id"]}
            )
            rooms[name] = room.json()["id"]
        issued = {}
        for name in ("Room 1", "Room 2"):
            response = await client.post(f"/api/classrooms/{rooms[name]}/device-credential")
            issued[name] = response.json()["credential"]
    for name, devices in (("Room 1", DeviceHealth(camera="missing")), ("Room 2", DeviceHealth())):
        pc = DeviceApi(hub.url, issued[name])
        try:
            await pc.lessons(devices)
        finally:
            await pc.close()

    page = staff_page.page
    await open_tab(page, hub, "Fleet")
    board = page.locator("#fleet-body tr")
    await expect(board).to_have_count(3)
    await expect(page.locator("#fleet-summary")).to_have_text(
        "3 classrooms · 2 online · 2 with a problem"
    )
    one = page.locator("#fleet-body tr", has_text="Room 1")
    await expect(one).to_contain_text("Online")
    await expect(one).to_contain_text("Missing: camera")
    await expect(one).to_contain_text("classroom-agent/")
    await expect(page.locator("#fleet-body tr", has_text="Room 2")).to_contain_text("All working")
    three = page.locator("#fleet-body tr", has_text="Room 3")
    await expect(three).to_contain_text("No PC enrolled")
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("admin-fleet")

    await page.get_by_label("Show", exact=True).select_option("devices")
    await expect(board).to_have_count(1)
    await expect(board).to_contain_text("Room 1")
    await page.get_by_label("Show", exact=True).select_option("any")
    await expect(board).to_have_count(2)
    assert staff_page.console_errors == []


async def test_a_webhook_added_in_the_page_and_its_delivery_log(
    hub: InProcessHub, staff_page: BrowserPage
) -> None:
    async with WebhookReceiver() as receiver:
        page = staff_page.page
        await open_tab(page, hub, "Data feed")
        form = page.locator("#webhook-form")
        await form.get_by_label("Address").fill(receiver.url)
        await form.get_by_label("Description").fill("County platform")
        await form.get_by_label("lesson.started").check()
        await form.get_by_role("button", name="Add webhook").click()
        dialog = page.get_by_role("dialog", name="Webhook added")
        await expect(dialog).to_be_visible()
        secret = await dialog.get_by_label("Signing secret").input_value()
        assert secret.startswith("whsec_")
        await dialog.get_by_role("button", name="I have copied it").click()
        await expect(page.locator("#webhook-secret")).to_have_value("")
        row = page.locator("#webhooks-body tr", has_text="County platform")
        await expect(row).to_contain_text("lesson.started")
        assert await staff_page.unnamed_controls() == []

        # A lesson goes live: the receiver gets the event, signed with that secret.
        admin = AdminApi(hub.url)
        try:
            await admin.lesson(classrooms=1)
            request = await eventually(lambda: receiver.requests[0] if receiver.requests else None)
            assert verify(secret, request.body, request.headers["streamhub-signature"])
            hook_id = int(await row.get_attribute("data-id") or 0)
            # The hub records the answer just after the receiver gave it.
            await eventually(lambda: _delivered(admin, hook_id))
        finally:
            await admin.close()
        await page.get_by_role("button", name="Delivery log of County platform").click()
        delivery = page.locator("#deliveries-body tr")
        await expect(delivery).to_contain_text("lesson.started")
        await expect(delivery).to_contain_text("Delivered")
        await staff_page.screenshot("admin-feed")
        assert staff_page.console_errors == []


async def _delivered(admin: AdminApi, hook_id: int) -> bool | None:
    log = (await admin.http.get(f"/api/webhooks/{hook_id}/deliveries")).json()
    return True if log and log[0]["state"] == "delivered" else None


async def test_a_terms_timetable_from_the_lesson_form(
    hub: InProcessHub, staff_page: BrowserPage
) -> None:
    """Mondays and Wednesdays at 08:00 until the term's end, without the holiday week: the
    page says how many lessons it will make, then makes them."""
    page = staff_page.page
    await open_tab(page, hub, "Lessons")
    form = page.locator("#lesson-form")
    await form.get_by_label("Title").fill("Mathematics 7A")
    await form.get_by_label("Start").fill("2031-09-01T08:00")
    await form.get_by_label("End").fill("2031-09-01T08:45")
    await form.get_by_label("Repeat every week").check()
    await form.get_by_label("Monday").check()
    await form.get_by_label("Wednesday").check()
    await form.get_by_label("Until").fill("2031-12-31")
    await form.get_by_label("Holidays").fill("2031-10-01 – 2031-10-07")
    assert await staff_page.unnamed_controls() == []
    # Mondays and Wednesdays of the term, less the holiday week's.
    term = [date(2031, 9, 1) + timedelta(days=n) for n in range(122)]
    expected = sum(1 for d in term if d.weekday() in (0, 2) and not date(2031, 10, 1) <= d
                   <= date(2031, 10, 7))  # fmt: skip
    await form.get_by_role("button", name="Save").click()
    confirm = page.locator("#confirm-dialog")
    await expect(confirm).to_be_visible()
    async with httpx.AsyncClient(
        base_url=hub.url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        # The page asked for a dry run only: nothing is written until the admin says yes.
        assert (await client.get("/api/lessons")).json()["total"] == 0
        await expect(confirm).to_contain_text(f"Create {expected} lessons")
        await page.locator("#confirm-yes").click()
        await expect(page.locator("#lessons-body tr").first).to_contain_text("Mathematics 7A")
        listed = (await client.get("/api/lessons", params={"limit": 100})).json()
    assert listed["total"] == expected
    starts = [x["scheduled_start"] for x in listed["items"]]
    assert starts[0].startswith("2031-09-01T08:00") and starts[-1].startswith("2031-12-31T08:00")
    assert not [s for s in starts if "2031-10-01" <= s[:10] <= "2031-10-07"]  # holidays
    assert len({x["series"] for x in listed["items"]}) == 1
    assert staff_page.console_errors == []


async def test_a_timetable_file_checked_imported_exported_and_a_calendar_link(
    hub: InProcessHub, staff_page: BrowserPage, tmp_path: Path
) -> None:
    """The import flow in the page: a file with an error is listed by row and column and
    cannot be imported; the corrected file can. Then its export, and a classroom's calendar
    link made and revoked."""
    admin = AdminApi(hub.url)
    try:
        school = await admin.post("/api/schools", {"name": "河西小学"})
        await admin.post("/api/classrooms", {"name": "一班", "school_id": school["id"]})
    finally:
        await admin.close()
    header = "课程,主讲教师,日期,开始时间,结束时间,教室\n"
    good = "数学,李老师,2031-09-01,08:00,08:45,河西小学/一班\n"
    broken = tmp_path / "broken.csv"
    broken.write_text(header + good + "语文,王老师,2031-09-31,09:00,09:45,河西小学/一班\n")
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(header + good + "语文,王老师,2031-09-30,09:00,09:45,河西小学/一班\n")

    page = staff_page.page
    await open_tab(page, hub, "Timetable file")
    chooser = page.get_by_label("Timetable file (CSV or XLSX)")
    await chooser.set_input_files(str(broken))
    error = page.locator("#timetable-errors-body tr")
    await expect(error).to_have_count(1)
    await expect(error).to_contain_text("3")
    await expect(error).to_contain_text("Date")
    await expect(error).to_contain_text("C3 · 2031-09-31")
    await expect(page.get_by_role("button", name="Import", exact=True)).to_be_disabled()

    await chooser.set_input_files(str(fixed))
    await expect(page.locator("#timetable-summary")).to_contain_text("all correct")
    await expect(page.locator("#timetable-errors-wrap")).to_be_hidden()
    await page.get_by_role("button", name="Import", exact=True).click()
    await expect(page.locator("#timetable-summary")).to_contain_text("2 lessons created")
    async with httpx.AsyncClient(
        base_url=hub.url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        assert (await client.get("/api/lessons")).json()["total"] == 2

    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export CSV").click()
    download = await download_info.value
    exported = (tmp_path / "export.csv").resolve()
    await download.save_as(exported)
    assert "河西小学/一班" in exported.read_text(encoding="utf-8-sig")

    # A classroom's calendar link: shown once, listed, revoked.
    await page.get_by_role("button", name="Make calendar link").click()
    url = page.get_by_label("Calendar address (shown once)")
    await expect(url).to_have_value(re.compile(r"/calendar/cal_[\w-]+\.ics$"))
    address = await url.input_value()
    async with httpx.AsyncClient(timeout=10) as calendar_app:
        assert (await calendar_app.get(address)).status_code == 200
        feed = page.locator("#calendar-body tr")
        await expect(feed).to_contain_text("A classroom: 河西小学/一班")
        assert await staff_page.unnamed_controls() == []
        await staff_page.screenshot("admin-timetable")
        revoke = "Revoke the calendar link of A classroom: 河西小学/一班"
        await page.get_by_role("button", name=revoke).click()
        await page.locator("#confirm-yes").click()
        await expect(page.locator("#calendar-empty")).to_be_visible()
        assert (await calendar_app.get(address)).status_code == 404


async def test_the_reports_tab_charts_a_term_and_downloads_it(
    hub: InProcessHub, staff_page: BrowserPage
) -> None:
    """The bureau's question at the end of a term: which classrooms came, which did not, how
    long they had sound only; a chart, a table, and the same report as CSV and XLSX."""
    admin = AdminApi(hub.url)
    try:
        term = Term(hub, admin)
        await term.classrooms()
        first = await term.lesson("李老师", 0, ["一班", "二班", "三班"])
        await term.came(first, "一班", 0, 0, 45, audio_only=(10, 20))
        await term.came(first, "二班", 0, 0, 45)
        second = await term.lesson("李老师", 1, ["一班", "三班"])
        await term.came(second, "一班", 1, 0, 45)
    finally:
        await admin.close()

    page = staff_page.page
    await open_tab(page, hub, "Reports")
    panel = page.locator("#panel-reports")
    await panel.get_by_label("From").fill("2026-08-31")
    await panel.get_by_label("To").fill("2026-09-30")
    await page.get_by_role("button", name="Show").click()
    rows = page.locator("#reports-body tr")
    await expect(rows).to_have_count(3)
    await expect(page.locator("#reports-summary")).to_have_text(
        "2 lessons held · 3 of 5 invitations attended (60%) · 135 minutes present, 10 in audio only"
    )
    never = page.locator("#reports-body tr", has_text="三班")
    await expect(never).to_contain_text("0/2")
    await expect(never).to_contain_text("0%")
    one = page.locator("#reports-body tr", has_text="一班")
    await expect(one).to_contain_text("山区小学")
    # Each group a bar of its rate (一班 and 二班 at 100 %; 三班 at 0 % draws none) and of its
    # minutes, 一班's with an audio-only part.
    chart = page.locator("#reports-chart svg")
    await expect(chart).to_have_attribute(
        "aria-label", "Attendance rate and minutes present per group"
    )
    await expect(chart.locator("rect.chart-bar:not(.minutes):not(.audio-only)")).to_have_count(2)
    await expect(chart.locator("rect.audio-only")).to_have_count(1)
    await expect(chart.locator("text.chart-label").first).to_have_text("三班")  # the lowest first
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("admin-reports")

    await panel.get_by_label("Per", exact=True).select_option("school")
    await expect(rows).to_have_count(2)
    await expect(page.locator("#reports-school-head")).to_be_hidden()
    async with page.expect_download() as xlsx_download:
        await page.get_by_role("button", name="Download XLSX").click()
    download = await xlsx_download.value
    assert download.suggested_filename == "attendance-school-2026-08-31-2026-09-30.xlsx"
    xlsx = await asyncio.to_thread(Path(await download.path()).read_bytes)
    book = load_workbook(io.BytesIO(xlsx), read_only=True)
    cells = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    assert [r[1] for r in cells[1:-1]] == ["Lake School", "山区小学"]
    async with page.expect_download() as csv_download:
        await page.get_by_role("button", name="Download CSV").click()
    csv_path = await (await csv_download.value).path()
    text = await asyncio.to_thread(Path(csv_path).read_text, encoding="utf-8")
    assert text.startswith("\ufeff") and "山区小学" in text
    assert staff_page.console_errors == []


async def test_people_sign_in_with_a_link_then_a_password(
    hub: InProcessHub, staff_page: BrowserPage
) -> None:
    """The county admin adds a school admin on the People tab and hands over a one-time
    sign-in link; the link signs them in once, to a page without what their role cannot do;
    after that, their email and password do."""
    admin = AdminApi(hub.url)
    try:
        hill = await admin.post("/api/schools", {"name": "Hill School"})
        await admin.post("/api/schools", {"name": "Lake School"})
    finally:
        await admin.close()
    page = staff_page.page
    await open_tab(page, hub, "People")
    people = page.locator("#panel-people")
    await people.get_by_label("Email").fill("Head@Hill.cn")
    await people.get_by_label("Name").fill("Head Li")
    await people.get_by_label("Role").select_option(label="School admin")
    await people.get_by_label("School").select_option(str(hill["id"]))
    await people.get_by_label("Password (optional)").fill("a long enough password")
    await people.get_by_role("button", name="Add account").click()
    await expect(people.locator("#people-body")).to_contain_text("head@hill.cn")
    await people.get_by_role("button", name="Make a one-time sign-in link for Head Li").click()
    link = people.locator("#people-link-url")
    await expect(link).to_have_value(re.compile(r"/admin#signin=sl_\d+_"))
    url = await link.input_value()
    assert await staff_page.unnamed_controls() == []
    await staff_page.screenshot("admin-people")
    await page.get_by_role("button", name="Sign out").click()

    # the link (opened afresh, as from a message): signed in as the person, out of the address
    # bar, without the county's tabs
    await page.goto("about:blank")
    await page.goto(url.replace("/admin#", "/admin?lang=en#"))
    await expect(page.locator("#session-who")).to_have_text("Signed in as Head Li (School admin)")
    assert "signin=" not in page.url
    await expect(page.get_by_role("tab", name="People")).to_be_visible()
    await expect(page.get_by_role("tab", name="Data feed")).to_be_hidden()
    await expect(page.get_by_role("tab", name="Links and tokens")).to_be_hidden()
    # The county's timetable file and term reports (the hub refuses them to a school admin).
    await expect(page.get_by_role("tab", name="Timetable file")).to_be_hidden()
    await expect(page.get_by_role("tab", name="Reports")).to_be_hidden()
    await expect(page.locator("#school-form")).to_be_hidden()
    await expect(page.locator("#schools-body tr")).to_have_count(1)
    await expect(page.locator("#schools-body")).to_contain_text("Hill School")
    await page.get_by_role("button", name="Sign out").click()

    # used once: refused; the email and password sign in
    await page.goto("about:blank")
    await page.goto(url.replace("/admin#", "/admin?lang=en#"))
    await expect(page.locator("#signin-error")).to_contain_text("sign-in link is used or expired")
    await page.locator("#signin-login").fill("head@hill.cn")
    await page.get_by_label("Password or admin key").fill("a long enough password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#session-who")).to_have_text("Signed in as Head Li (School admin)")
    assert staff_page.errors_except("status of 401") == []


async def test_the_archive_tab_shows_who_watched_what_retention_and_the_disk(
    hub: InProcessHub, staff_page: BrowserPage
) -> None:
    """A replay in the access log, a policy that a dry run applies to one old recording, and
    the school's bytes on disk: what the county sees in the Archive tab."""
    admin = AdminApi(hub.url)
    try:
        school = await admin.post("/api/schools", {"name": "湖畔小学"})
        lesson = await admin.post(
            "/api/lessons",
            {
                "title": "分数的加法",
                "lecturer_name": "Ms Li",
                "scheduled_start": "2026-11-24T08:00:00Z",
                "scheduled_end": "2026-11-24T09:00:00Z",
                "classroom_ids": [],
                "school_id": school["id"],
            },
        )
        folder = hub.settings.effective_recordings_dir / "rec-archive-tab"
        folder.mkdir(parents=True)
        (folder / "lesson.mp4").write_bytes(b"\x00" * 4096)
        catalog = hub.services.catalog
        rec = await catalog.create_recording(lesson["id"], "rec-archive-tab")
        ended = datetime.now(UTC) - timedelta(days=5)
        await catalog.update_recording(
            rec.id, state="ready", duration_s=10.0, started_at=ended, ended_at=ended
        )
        watched = {"recording_id": rec.id, "session": "ab" * 8, "ranges": [[0.0, 2.0]]}
        assert (await admin.http.post("/api/replay/watched", json=watched)).status_code == 204
        await admin.post("/api/retention/policies", {"school_id": school["id"], "keep_days": 1})
    finally:
        await admin.close()

    page = staff_page.page
    await open_tab(page, hub, "Archive")
    rows = page.locator("#accesslog-body tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Replay")
    await expect(rows.first).to_contain_text("分数的加法")
    await expect(page.locator("#retention-body tr")).to_contain_text("湖畔小学")
    await expect(page.locator("#disk-schools-body tr", has_text="湖畔小学")).to_contain_text("4")
    await page.get_by_role("button", name="List what would be deleted").click()
    await expect(page.locator("#retention-result li")).to_have_count(1)
    await expect(page.locator("#retention-result li")).to_contain_text(f"Recording {rec.id}")
    assert folder.is_dir()  # a dry run
    assert await staff_page.unnamed_controls() == []
    assert staff_page.console_errors == []
