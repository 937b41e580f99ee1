"""Attendance reports over a stretch of the timetable (a term): per classroom, per school or
per lecturer, as JSON, CSV or XLSX. Admins and staff (``require`` narrows it when schools get
their own admins)."""

from __future__ import annotations

import asyncio
import io
from dataclasses import asdict, fields
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from openpyxl import Workbook
from pydantic import BaseModel

from streamhub.api.auth import AdminOrStaff, ServicesDep
from streamhub.api.schemas import CalendarDay
from streamhub.catalog.reports import term_sources
from streamhub.csv_export import csv_text
from streamhub.errors import BadRequest
from streamhub.lesson.term_report import GroupBy, GroupReport, term_report

router = APIRouter(prefix="/api/reports", tags=["reports"], dependencies=[AdminOrStaff])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The longest stretch one report covers: a school year and a bit.
MAX_DAYS = 400


class GroupOut(BaseModel):
    """One classroom's, school's or lecturer's attendance over the range. ``key``: the
    classroom's or school's id, or the lecturer's name. ``lessons_invited`` counts
    invitations (a lesson that invited three of a school's classrooms is three for it),
    ``attendance_rate`` attended over invited, ``open_attended`` classrooms that came to an
    open lesson uninvited; ``quality`` the mean network quality (0..1) weighted by minutes,
    ``quality_good/fair/poor`` the register lines by band (0.8 and 0.5);
    ``lessons_not_held`` invitations to lessons whose time passed without going live."""

    key: str
    name: str
    school: str
    lessons_held: int
    lessons_invited: int
    lessons_attended: int
    attendance_rate: float | None
    late: int
    left_early: int
    absent: int
    open_attended: int
    minutes_present: float
    audio_only_minutes: float
    drops: int
    quality: float | None
    quality_good: int
    quality_fair: int
    quality_poor: int
    lessons_not_held: int


class ReportOut(BaseModel):
    start: date
    end: date
    by: GroupBy
    time_zone: str
    groups: list[GroupOut]
    totals: GroupOut


COLUMNS = [f.name for f in fields(GroupReport) if not f.name.startswith("_")]


@router.get("/attendance", response_model=None)
async def attendance_report(
    svc: ServicesDep,
    start: Annotated[CalendarDay, Query(alias="from", description="first day (county time zone)")],
    end: Annotated[CalendarDay, Query(alias="to", description="last day, included")],
    by: GroupBy = "classroom",
    format: Literal["json", "csv", "xlsx"] = "json",
) -> ReportOut | Response:
    """Attendance of the lessons scheduled from ``from`` to ``to`` (days in the county's time
    zone, both included), added up ``by`` classroom, school or lecturer from each lesson's
    register: lessons held, invitations, attended, attendance rate, late, left early, absent,
    minutes present, minutes in audio only, drops, network quality. Lessons still live are
    left out until they end. ``?format=csv`` (UTF-8 with a BOM) or ``?format=xlsx`` for a
    spreadsheet."""
    if end < start:
        raise BadRequest("`to` is before `from`")
    if (end - start).days > MAX_DAYS:
        raise BadRequest(f"a report covers at most {MAX_DAYS} days")
    settings = svc.settings
    zone = settings.county_zone
    sources = await term_sources(
        svc.catalog,
        datetime.combine(start, time(), zone),
        datetime.combine(end + timedelta(days=1), time(), zone),
        settings.attendance_late_after_s,
        settings.attendance_left_early_s,
    )
    groups, totals = await asyncio.to_thread(
        term_report, sources.held, sources.not_held, sources.classrooms, by
    )
    report = ReportOut(
        start=start,
        end=end,
        by=by,
        time_zone=settings.county_timezone,
        groups=[GroupOut(**_public(g)) for g in groups],
        totals=GroupOut(**_public(totals)),
    )
    if format == "json":
        return report
    name = f"attendance-{by}-{start.isoformat()}-{end.isoformat()}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    columns = _columns(by)
    if format == "csv":
        return Response(
            _csv(report, columns), media_type="text/csv; charset=utf-8", headers=headers
        )
    book = await asyncio.to_thread(_xlsx, report, columns)
    return Response(book, media_type=XLSX, headers=headers)


def _public(group: GroupReport) -> dict[str, Any]:
    return {k: v for k, v in asdict(group).items() if not k.startswith("_")}


def _columns(by: GroupBy) -> list[str]:
    # The school column names the classroom's school; the other groupings have none.
    return [c for c in COLUMNS if c != "school" or by == "classroom"]


def _rows(report: ReportOut, columns: list[str]) -> list[list[Any]]:
    """The groups, then a totals line (key "total")."""
    rows = [[getattr(g, c) for c in columns] for g in report.groups]
    totals = report.totals.model_copy(update={"key": "total", "name": ""})
    rows.append([getattr(totals, c) for c in columns])
    return rows


def _csv(report: ReportOut, columns: list[str]) -> str:
    return csv_text(columns, _rows(report, columns))


def _xlsx(report: ReportOut, columns: list[str]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(f"{report.by} {report.start}..{report.end}"[:31])
    sheet.append(columns)
    for row in _rows(report, columns):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
