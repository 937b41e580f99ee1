"""Attendance reports per term (issue 16): each lesson's register added up per classroom, per
school and per lecturer, over days of the county's time zone, as JSON, CSV (BOM, Chinese names)
and XLSX; the number of queries does not grow with the lessons in range."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import event

from tests.support.hub import AdminApi, HubFactory, InProcessHub
from tests.support.term import Term


@pytest.fixture
async def hub(database_url: str | None, make_hub: HubFactory) -> InProcessHub:
    return await make_hub(
        recorder={"enabled": False}, database_url=database_url, county_timezone="Asia/Shanghai"
    )


async def report(admin: AdminApi, **params: Any) -> dict[str, Any]:
    params = {"from": "2026-09-01", "to": "2026-09-30", **params}
    response = await admin.http.get("/api/reports/attendance", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


@contextmanager
def counting_queries(hub: InProcessHub) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = hub.services.catalog.engine.sync_engine

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The webhook sender polls its queue on the same engine whenever its round comes.
        if "webhook_deliveries" not in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def test_a_term_per_classroom_school_and_lecturer(hub: InProcessHub) -> None:
    admin = AdminApi(hub.url)
    try:
        term = Term(hub, admin)
        await term.classrooms()
        first = await term.lesson("李老师", 0, ["一班", "二班", "三班"])
        # 一班 dropped at 20 and came back at 21, in audio only from 10 to 15; 二班 came late.
        await term.came(first, "一班", 0, 0, 20, audio_only=(10, 15))
        await term.came(first, "一班", 0, 21, 45)
        await term.came(first, "二班", 0, 10, 45, quality=0.6)
        second = await term.lesson("王老师", 2, ["一班", "三班"])
        await term.came(second, "一班", 2, 0, 30)  # left early
        await term.came(second, "三班", 2, 0, 45, quality=0.3)
        await term.lesson("李老师", 3, ["二班"], ended=False)  # its time passed: not held
        outside = await term.lesson("王老师", 40, ["一班"])  # October: outside the range
        await term.came(outside, "一班", 40, 0, 45)

        with counting_queries(hub) as queries:
            by_classroom = await report(admin)
        few = len(queries)
        by_school = await report(admin, by="school")
        by_lecturer = await report(admin, by="lecturer")
        csv_response = await admin.http.get(
            "/api/reports/attendance",
            params={"from": "2026-09-01", "to": "2026-09-30", "format": "csv"},
        )
        xlsx_response = await admin.http.get(
            "/api/reports/attendance",
            params={"from": "2026-09-01", "to": "2026-09-30", "by": "school", "format": "xlsx"},
        )
        # Ten more lessons in range, each with a session and audio only: no more queries.
        for day in range(5, 15):
            more = await term.lesson("王老师", day, ["一班", "三班"])
            await term.came(more, "三班", day, 0, 45, audio_only=(1, 2))
        with counting_queries(hub) as queries:
            larger = await report(admin)
        assert len(queries) == few <= 6, queries
        before = await admin.http.get(
            "/api/reports/attendance", params={"from": "2026-09-30", "to": "2026-09-01"}
        )
    finally:
        await admin.close()

    rooms = {g["name"]: g for g in by_classroom["groups"]}
    assert list(rooms) == ["三班", "一班", "二班"]  # by school, then name
    one = rooms["一班"]
    assert one["key"] == str(term.rooms["一班"]) and one["school"] == "山区小学"
    assert (one["lessons_held"], one["lessons_invited"], one["lessons_attended"]) == (2, 2, 2)
    assert one["attendance_rate"] == 1.0 and one["left_early"] == 1 and one["late"] == 0
    assert one["minutes_present"] == 44 + 30 and one["audio_only_minutes"] == 5
    assert one["drops"] == 1 and one["quality"] == 1.0 and one["quality_good"] == 2
    two = rooms["二班"]
    assert two["late"] == 1 and two["minutes_present"] == 35 and two["lessons_not_held"] == 1
    assert two["quality_fair"] == 1 and two["quality"] == 0.6
    three = rooms["三班"]
    assert (three["lessons_invited"], three["lessons_attended"], three["absent"]) == (2, 1, 1)
    assert three["attendance_rate"] == 0.5 and three["quality_poor"] == 1
    totals = by_classroom["totals"]
    assert (totals["lessons_held"], totals["lessons_invited"], totals["lessons_attended"]) == (
        2,
        5,
        4,
    )
    assert totals["minutes_present"] == 74 + 35 + 45 and totals["lessons_not_held"] == 1
    assert by_classroom["time_zone"] == "Asia/Shanghai"

    schools = {g["name"]: g for g in by_school["groups"]}
    assert list(schools) == ["Lake School", "山区小学"]
    hill = schools["山区小学"]
    assert hill["key"] == str(term.schools["山区小学"])
    assert (hill["lessons_invited"], hill["lessons_attended"], hill["attendance_rate"]) == (3, 3, 1)
    assert hill["minutes_present"] == 74 + 35 and hill["lessons_not_held"] == 1
    assert schools["Lake School"]["attendance_rate"] == 0.5

    lecturers = {g["name"]: g for g in by_lecturer["groups"]}
    assert list(lecturers) == sorted(lecturers)  # by name
    li, wang = lecturers["李老师"], lecturers["王老师"]
    assert (li["lessons_held"], li["lessons_invited"], li["lessons_attended"]) == (1, 3, 2)
    assert li["lessons_not_held"] == 1 and li["audio_only_minutes"] == 5
    assert (wang["lessons_held"], wang["lessons_invited"], wang["attendance_rate"]) == (1, 2, 1)

    assert csv_response.status_code == 200, csv_response.text
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert (
        "attendance-classroom-2026-09-01-2026-09-30.csv"
        in (csv_response.headers["content-disposition"])
    )
    text = csv_response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # spreadsheet programs then read the Chinese names right
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["name"] for r in rows] == ["三班", "一班", "二班", ""]
    assert rows[1]["school"] == "山区小学" and float(rows[1]["minutes_present"]) == 74
    assert rows[-1]["key"] == "total" and rows[-1]["lessons_invited"] == "5"

    assert xlsx_response.status_code == 200, xlsx_response.text
    book = load_workbook(io.BytesIO(xlsx_response.content), read_only=True)
    sheet = book.worksheets[0]
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    assert cells[0][:3] == ["key", "name", "lessons_held"] and "school" not in cells[0]
    assert [r[1] for r in cells[1:-1]] == ["Lake School", "山区小学"] and cells[-1][0] == "total"
    assert cells[2][cells[0].index("attendance_rate")] == 1

    ten = {g["name"]: g for g in larger["groups"]}
    assert ten["三班"]["lessons_held"] == 12 and ten["三班"]["audio_only_minutes"] == 10
    assert before.status_code == 400
