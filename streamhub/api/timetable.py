"""The term timetable as a file (admin): import a CSV or XLSX (``dry_run`` lists every error by
row and column and writes nothing; otherwise all of it or nothing), export the same format.
The format: docs/timetable.md."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from streamhub.api.auth import AdminOnly, ServicesDep
from streamhub.api.problems import problem
from streamhub.api.schemas import CalendarDay
from streamhub.errors import BadRequest, ErrorCode
from streamhub.timetable.export import export_rows
from streamhub.timetable.plan import Plan, make_plan
from streamhub.timetable.rows import ReadRows, read_rows
from streamhub.timetable.sheets import (
    CSV_TYPE,
    XLSX_TYPE,
    UnsupportedTimetable,
    read_sheet,
    write_csv,
    write_xlsx,
)

router = APIRouter(prefix="/api/timetable", tags=["timetable"])
# Its body is a file: the body guard's cap for it (app.py) is the file limit, not the JSON one.
IMPORT_PATH = "/api/timetable/import"
# What a form or a JSON client sends by mistake; a file's own type (or none) is sniffed.
_REFUSED_TYPES = ("application/json", "multipart/", "application/x-www-form-urlencoded")


class RowErrorOut(BaseModel):
    row: int
    column: str
    code: str
    message: str
    value: str
    cell: str
    other_row: int | None
    other_lesson: int | None


class LessonCounts(BaseModel):
    create: int
    update: int
    unchanged: int
    kept: int  # went live or ended already: never changed by an import


class ImportOut(BaseModel):
    dry_run: bool
    written: bool
    format: Literal["csv", "xlsx"]
    timezone: str
    rows: int
    lessons: LessonCounts
    errors: list[RowErrorOut]


@router.post("/import", dependencies=[AdminOnly], response_model=ImportOut)
async def import_timetable(
    request: Request, svc: ServicesDep, dry_run: bool = False
) -> ImportOut | JSONResponse:
    """The file is the request body (``text/csv``, the XLSX type, or any: the bytes tell).
    200 with what it did or would do; 422 (``timetable_invalid``) with every error when it
    was not a dry run, and nothing was written."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(_REFUSED_TYPES):
        raise UnsupportedTimetable("send the CSV or XLSX file itself as the request body")
    data = await request.body()
    zone = svc.settings.county_zone
    # Reading a workbook is seconds of CPU for a large one: off the loop that carries media.
    sheet = await asyncio.to_thread(read_sheet, data)
    read = await asyncio.to_thread(read_rows, sheet, zone)
    plan = await svc.catalog.import_timetable(
        _window(read), lambda snapshot: make_plan(read, snapshot), write=not dry_run
    )
    out = ImportOut(
        dry_run=dry_run,
        written=not dry_run and not plan.errors,
        format=sheet.kind,
        timezone=zone.key,
        rows=plan.rows,
        lessons=_counts(plan),
        errors=[RowErrorOut(**asdict(e)) for e in plan.errors],
    )
    if plan.errors and not dry_run:
        rows = sorted({e.row for e in plan.errors})
        return problem(
            422,
            ErrorCode.TIMETABLE_INVALID,
            "The timetable has errors; nothing was imported.",
            f"{len(plan.errors)} errors in {len(rows)} rows (first: row {rows[0]})",
            **out.model_dump(mode="json"),
        )
    return out


def _window(read: ReadRows) -> tuple[datetime, datetime] | None:
    occurrences = [o for row in read.rows for o in row.occurrences]
    if not occurrences:
        return None
    return min(o.start for o in occurrences), max(o.end for o in occurrences)


def _counts(plan: Plan) -> LessonCounts:
    return LessonCounts(
        create=len(plan.create), update=len(plan.update), unchanged=plan.unchanged, kept=plan.kept
    )


@router.get("/export", dependencies=[AdminOnly], response_class=Response)
async def export_timetable(
    svc: ServicesDep,
    format: Literal["csv", "xlsx"] = "csv",
    since: Annotated[CalendarDay | None, Query(alias="from")] = None,
    until: Annotated[CalendarDay | None, Query(alias="to")] = None,
    lang: Literal["en", "zh-CN"] = "en",
) -> Response:
    """The lessons starting from ``from`` to ``to`` (dates in the county's time zone, both
    included; open-ended without), one per row, in the import's format. Importing it back
    changes nothing."""
    zone = svc.settings.county_zone
    if since is not None and until is not None and until < since:
        raise BadRequest("to comes before from", code=ErrorCode.VALIDATION_FAILED)
    start = _midnight(since, zone) if since is not None else None
    end = _midnight(until + timedelta(days=1), zone) if until is not None else None
    lessons = await svc.catalog.scheduled_lessons(start, end)
    rows = export_rows(lessons, await svc.catalog.classroom_refs(), zone, lang == "zh-CN")
    name = f"timetable-{since or 'start'}-{until or 'end'}.{format}"
    if format == "xlsx":
        body, media_type = await asyncio.to_thread(write_xlsx, rows), XLSX_TYPE
    else:
        body, media_type = write_csv(rows), CSV_TYPE
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
