"""The term timetable as a file (issue 16): a 500-row XLSX with 7 planted errors is refused with
exactly those 7, by row and column, and nothing is written; the fixed file imports; importing it
again, or importing its export (XLSX and CSV), changes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from tests.support.hub import AdminApi, HubFactory, InProcessHub

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["课程", "科目", "主讲教师", "日期", "开始时间", "结束时间", "教室"]
SCHOOLS = {"城南小学": ["一班", "二班", "三班", "四班", "五班"],
           "山区中学": ["一班", "二班", "三班", "四班", "五班"]}  # fmt: skip
SLOTS = [(time(8, 0), time(8, 45)), (time(9, 0), time(9, 45)), (time(10, 0), time(10, 45)),
         (time(14, 0), time(14, 45)), (time(15, 0), time(15, 45))]  # fmt: skip
ROOMS = [f"{school}/{room}" for school, rooms in SCHOOLS.items() for room in rooms]


@pytest.fixture
async def hub(database_url: str | None, make_hub: HubFactory) -> InProcessHub:
    return await make_hub(
        recorder={"enabled": False}, county_timezone="Asia/Shanghai", database_url=database_url
    )


def term_rows() -> list[list[Any]]:
    """500 lessons, none clashing: 10 school days x 5 periods x 10 classrooms, each classroom
    with its own lecturer. Half the dates and times are real date/time cells, half text."""
    rows: list[list[Any]] = []
    for i in range(500):
        room, slot, day = i % 10, i // 10 % 5, i // 50
        when = date(2027, 9, 1) + timedelta(days=day)
        start, end = SLOTS[slot]
        cells: tuple[Any, Any, Any] = (
            (when, start, end) if i % 2 else
            (when.isoformat(), start.strftime("%H:%M"), end.strftime("%H:%M"))
        )  # fmt: skip
        rows.append([f"数学 第{i + 1}课", "数学", f"李老师{room}", *cells, ROOMS[room]])
    return rows


def workbook(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def plant_errors(rows: list[list[Any]]) -> tuple[list[list[Any]], set[tuple[int, str]]]:
    """Seven broken rows; (spreadsheet row, column) of each error. Data row i is row i + 2."""
    broken = [list(r) for r in rows]
    broken[10][3] = "2027-02-30"  # bad date
    broken[20][6] = "城南小学/九十九班"  # unknown classroom
    broken[30][5] = "07:00"  # end before start (08:00 or later)
    broken[40][4] = "25:00"  # bad time
    broken[50][0] = ""  # missing title
    broken[61] = list(broken[60])  # duplicate of the row above
    # Overlaps row 2 (data row 0: 城南小学/一班, 2027-09-01 08:00-08:45), another lecturer.
    broken[70] = ["语文 加课", "语文", "代课老师", "2027-09-01", "08:30", "09:15", ROOMS[0]]
    planted = {
        (12, "date"),
        (22, "classrooms"),
        (32, "end"),
        (42, "start"),
        (52, "title"),
        (63, "title"),
        (72, "classrooms"),
    }
    return broken, planted


async def import_file(admin: AdminApi, data: bytes, dry_run: bool, content_type: str = XLSX) -> Any:
    response = await admin.http.post(
        "/api/timetable/import",
        params={"dry_run": str(dry_run).lower()},
        content=data,
        headers={"Content-Type": content_type},
    )
    return response


async def all_lessons(admin: AdminApi) -> list[dict[str, Any]]:
    response = await admin.http.get("/api/lessons", params={"limit": 500})
    assert response.status_code == 200, response.text
    page = response.json()
    items = list(page["items"])
    while len(items) < page["total"]:
        more = await admin.http.get("/api/lessons", params={"limit": 500, "offset": len(items)})
        items += more.json()["items"]
    return items


async def test_a_500_row_workbook_with_7_errors_then_fixed_then_again(hub: InProcessHub) -> None:
    admin = AdminApi(hub.url)
    for subject in ("数学", "语文"):
        await admin.subject(subject)
    try:
        for school, rooms in SCHOOLS.items():
            made = await admin.post("/api/schools", {"name": school})
            for room in rooms:
                await admin.post("/api/classrooms", {"name": room, "school_id": made["id"]})
        rows = term_rows()
        broken, planted = plant_errors(rows)

        dry = await import_file(admin, workbook(broken), dry_run=True)
        assert dry.status_code == 200, dry.text
        report = dry.json()
        assert {(e["row"], e["column"]) for e in report["errors"]} == planted, report["errors"]
        assert len(report["errors"]) == 7
        assert report["written"] is False and report["rows"] == 500
        by_row = {e["row"]: e for e in report["errors"]}
        assert by_row[12]["code"] == "bad_date" and by_row[12]["cell"] == "D12"
        assert by_row[22]["code"] == "unknown_classroom"
        assert by_row[22]["value"] == "城南小学/九十九班"
        assert by_row[32]["code"] == "end_before_start"
        assert by_row[42]["code"] == "bad_time"
        assert by_row[52]["code"] == "missing"
        assert by_row[63]["code"] == "duplicate" and by_row[63]["other_row"] == 62
        assert by_row[72]["code"] == "overlap" and by_row[72]["other_row"] == 2
        assert await all_lessons(admin) == []  # nothing written

        # Without dry_run: refused whole, with the same list, still nothing written.
        refused = await import_file(admin, workbook(broken), dry_run=False)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["code"] == "timetable_invalid"
        assert {(e["row"], e["column"]) for e in problem["errors"]} == planted
        assert await all_lessons(admin) == []

        fixed = workbook(rows)
        planned = (await import_file(admin, fixed, dry_run=True)).json()
        assert planned["errors"] == [] and planned["lessons"]["create"] == 500
        done = await import_file(admin, fixed, dry_run=False)
        assert done.status_code == 200, done.text
        assert done.json()["written"] is True and done.json()["lessons"]["create"] == 500
        lessons = await all_lessons(admin)
        assert len(lessons) == 500
        first = next(x for x in lessons if x["title"] == "数学 第1课")
        # 08:00 in Shanghai is midnight UTC.
        assert datetime.fromisoformat(first["scheduled_start"]) == datetime(2027, 9, 1, tzinfo=UTC)
        assert len(first["classroom_ids"]) == 1

        # The same file again: every lesson found, nothing changed.
        again = await import_file(admin, fixed, dry_run=False)
        assert again.status_code == 200, again.text
        assert again.json()["lessons"] == {"create": 0, "update": 0, "unchanged": 500, "kept": 0}
        assert await all_lessons(admin) == lessons

        # Its export, in either format and either language, re-imports to nothing new.
        exported = await admin.http.get(
            "/api/timetable/export",
            params={"format": "xlsx", "from": "2027-09-01", "to": "2027-09-30", "lang": "zh-CN"},
        )
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"] == XLSX
        sheet = load_workbook(io.BytesIO(exported.content), read_only=True)
        try:
            header = next(sheet.worksheets[0].iter_rows(max_row=1, values_only=True))
        finally:
            sheet.close()
        assert header[:4] == ("课程", "科目", "年级", "主讲教师")
        back = await import_file(admin, exported.content, dry_run=False)
        assert back.status_code == 200, back.text
        assert back.json()["lessons"]["unchanged"] == 500 and back.json()["rows"] == 500
        csv_export = await admin.http.get("/api/timetable/export", params={"format": "csv"})
        assert csv_export.content.startswith("\ufeff".encode())
        assert "城南小学/一班" in csv_export.content.decode("utf-8-sig")
        back = await import_file(admin, csv_export.content, dry_run=False, content_type="text/csv")
        assert back.status_code == 200, back.text
        assert back.json()["lessons"] == {"create": 0, "update": 0, "unchanged": 500, "kept": 0}
        assert await all_lessons(admin) == lessons
        narrow = await admin.http.get(
            "/api/timetable/export", params={"from": "2027-09-01", "to": "2027-09-01"}
        )
        assert len(narrow.content.decode("utf-8-sig").strip().splitlines()) == 1 + 50
    finally:
        await admin.close()
