"""The fleet board (issue 16): every classroom PC as the real agent's HTTP client reports it —
online or not, its agent and system, its devices, its latest connection check, its next
lesson — with filters by school and by problem; admins only."""

from __future__ import annotations

import platform
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from classroom_agent.hub_api import DeviceApi
from streamhub import __version__
from streamhub.protocol import DeviceHealth
from tests.support.hub import AdminApi, HubFactory, InProcessHub


@pytest.fixture
async def hub(database_url: str | None, make_hub: HubFactory) -> InProcessHub:
    return await make_hub(recorder={"enabled": False}, database_url=database_url)


async def fleet(admin: AdminApi, **params: Any) -> dict[int, dict[str, Any]]:
    response = await admin.http.get("/api/fleet", params=params)
    assert response.status_code == 200, response.text
    return {row["classroom_id"]: row for row in response.json()["classrooms"]}


async def test_the_board_shows_what_each_pc_said_and_what_is_wrong(hub: InProcessHub) -> None:
    admin = AdminApi(hub.url)
    pcs: list[DeviceApi] = []
    try:
        hill = await admin.post("/api/schools", {"name": "Hill School"})
        lake = await admin.post("/api/schools", {"name": "Lake School"})
        rooms = {}
        for school, name in ((hill, "一班"), (hill, "二班"), (hill, "三班"), (lake, "四班")):
            room = await admin.post("/api/classrooms", {"name": name, "school_id": school["id"]})
            rooms[name] = room["id"]
        credentials = {}
        for name in ("一班", "二班", "四班"):  # 三班 has no PC enrolled
            issued = await admin.post(f"/api/classrooms/{rooms[name]}/device-credential")
            credentials[name] = issued["credential"]
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        lesson = await admin.post(
            "/api/lessons",
            {
                "title": "Fractions",
                "scheduled_start": tomorrow.isoformat(),
                "scheduled_end": (tomorrow + timedelta(hours=1)).isoformat(),
                "classroom_ids": [rooms["一班"], rooms["四班"]],
            },
        )
        # 一班's PC polls its timetable with a camera that would not open.
        first = DeviceApi(hub.url, credentials["一班"])
        pcs.append(first)
        await first.lessons(DeviceHealth(camera="missing"))
        # 四班's PC polls with everything working, and its doctor found UDP blocked.
        fourth = DeviceApi(hub.url, credentials["四班"])
        pcs.append(fourth)
        await fourth.lessons(DeviceHealth())
        checked = await fourth.http.post(
            "/api/device/connection-check",
            json={
                "ok": False,
                "summary": "UDP blocked, no TURN",
                "lines": [{"check": "udp", "status": "fail", "detail": "blocked"}],
            },
        )
        assert checked.status_code == 201, checked.text
        # 二班's credential was issued but its PC never came.

        board = await fleet(admin)
        assert list(board) == [
            rooms[n] for n in ("一班", "三班", "二班", "四班")
        ]  # by school, name
        one = board[rooms["一班"]]
        assert one["online"] and one["school"] == "Hill School"
        system = f"{platform.system()} {platform.release()}"
        assert one["agent"].startswith(f"classroom-agent/{__version__} ({system}")
        assert one["devices"]["camera"] == "missing" and one["devices"]["microphone"] == "ok"
        assert one["problems"] == ["camera_missing"]
        assert one["next_lesson"]["id"] == lesson["id"]
        assert one["next_lesson"]["title"] == "Fractions"
        assert board[rooms["二班"]]["problems"] == ["offline"]
        assert board[rooms["二班"]]["last_seen_at"] is None and not board[rooms["二班"]]["online"]
        assert board[rooms["二班"]]["next_lesson"] is None
        assert board[rooms["三班"]]["problems"] == ["not_enrolled"]
        four = board[rooms["四班"]]
        assert four["problems"] == ["check_failed"] and four["online"]
        assert four["check"]["summary"] == "UDP blocked, no TURN" and not four["check"]["ok"]

        # Filters: by school, and by kind of problem.
        assert list(await fleet(admin, school_id=lake["id"])) == [rooms["四班"]]
        assert set(await fleet(admin, problem="devices")) == {rooms["一班"]}
        assert set(await fleet(admin, problem="check")) == {rooms["四班"]}
        assert set(await fleet(admin, problem="offline")) == {rooms["二班"]}
        assert set(await fleet(admin, problem="not_enrolled")) == {rooms["三班"]}
        assert len(await fleet(admin, problem="any")) == 4

        # The camera was plugged back in: the next poll clears the problem.
        await first.lessons(DeviceHealth())
        assert (await fleet(admin))[rooms["一班"]]["problems"] == []

        # Bad filters are refused with a problem, and only admins see the board.
        for params in ({"problem": "everything"}, {"school_id": 2**40}):
            bad = await admin.http.get("/api/fleet", params=params)
            assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")
        async with httpx.AsyncClient(base_url=hub.url) as anonymous:
            assert (await anonymous.get("/api/fleet")).status_code == 401
        device = await first.http.get("/api/fleet")
        assert device.status_code in (401, 403)
    finally:
        for pc in pcs:
            await pc.close()
        await admin.close()
