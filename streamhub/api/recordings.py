"""The lesson archive: list, inspect, replay (HTTP range requests) and delete recordings.

Files are found through the catalog by recording id and a fixed file name chosen here; nothing
from a request ever becomes part of a filesystem path."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import AwareDatetime, BaseModel, Field

from streamhub.access_log import Who
from streamhub.api.access import listing_scope, recording_allows
from streamhub.api.auth import (
    AdminOnly,
    Caller,
    CallerDep,
    People,
    ServicesDep,
    bearer_scheme,
    caller,
)
from streamhub.api.schemas import OffsetQuery, OptionalIdQuery, PageOut, SearchQuery
from streamhub.api.watched_by import (
    note,
    refuse_if_downloads_off,
    ticket_by,
    who_of,
    who_of_ticket,
)
from streamhub.catalog.models import MAX_ID, Recording, utcnow
from streamhub.catalog.recordings import LibraryFilter
from streamhub.errors import BadRequest, Conflict, ErrorCode, Forbidden, NotFound, Unauthorized
from streamhub.protocol import Role
from streamhub.services import Services
from streamhub.timetable.periods import Period, period_span

router = APIRouter(prefix="/api/recordings", tags=["recordings"])

FILES = {
    "media": ("lesson.mp4", "video/mp4"),
    "screen": ("screen.mp4", "video/mp4"),
    "stage": ("stage.mp4", "video/mp4"),
    "poster": ("poster.jpg", "image/jpeg"),
}
MAX_THUMBNAILS = 10_000


class MatchOut(BaseModel):
    """Where a search found a recording's words: ``title``, ``description``, ``chapter`` …"""

    source: str
    text: str
    # Where in the recording (a chapter's start), seconds.
    at_s: float | None = None


class RecordingOut(BaseModel):
    id: int
    lesson_id: int
    title: str
    subject: str
    subject_id: int | None = None
    grade_id: int | None = None
    grade: str = ""
    description: str = ""
    school_id: int | None = None
    lecturer_account_id: int | None = None
    lecturer_name: str
    join_code: str
    classroom_ids: list[int]
    state: str
    failure_reason: str
    progress: float
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    size_bytes: int
    has_screen: bool
    # Recording stopped before the lesson ended (e.g. a full disk): what was on disk is kept.
    partial: bool = False
    # Why it is partial, and what a waiting finalize waits for (second line).
    note: str = ""
    media_url: str | None
    screen_url: str | None
    poster_url: str | None
    manifest_url: str | None
    download_url: str | None
    # With a search (``q``): what matched, best first (up to three).
    matches: list[MatchOut] = Field(default_factory=list)
    # Replay data, in the library's list: replays, and seconds played (re-watches included).
    views: int = 0
    watch_s: float = 0.0


class PeriodOut(BaseModel):
    """The period a ``period`` filter meant, in the county's time zone."""

    period: Period
    timezone: str
    first_day: date
    last_day: date
    start: datetime
    end: datetime  # excluded
    term: str = ""  # the configured term's name, if one held today


class RecordingPageOut(PageOut[RecordingOut]):
    period: PeriodOut | None = None


def _rid(raw: str) -> int:
    # Ids only: anything else (traversal attempts included) is simply not found.
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12 or int(raw) > MAX_ID:
        raise NotFound("no such recording")
    return int(raw)


async def _recording(svc: Services, raw: str) -> Recording:
    return await svc.catalog.get_recording(_rid(raw))


def _directory(svc: Services, rec: Recording) -> Path:
    root = svc.settings.effective_recordings_dir.resolve()
    directory = (root / rec.directory).resolve()
    if not directory.is_relative_to(root) or directory == root:
        raise NotFound("no such recording")
    return directory


def recording_out(
    svc: Services,
    rec: Recording,
    grades: dict[int, str] | None = None,
    who: Caller | None = None,
    downloads_off: set[int] | frozenset[int] = frozenset(),
) -> RecordingOut:
    """``who``: whom the media ticket names (the access log's downloader); no download link
    for a school in ``downloads_off``."""
    ready = rec.state == "ready"
    base = f"/api/recordings/{rec.id}"
    ticket = svc.tokens.issue_ticket(
        rec.id, rec.row_key, svc.settings.auth.access_token_ttl_s, by=ticket_by(who)
    )
    downloads = rec.lesson.school_id not in downloads_off

    def url(name: str) -> str | None:
        return f"{base}/{name}?ticket={ticket}" if ready else None

    return RecordingOut(
        id=rec.id,
        lesson_id=rec.lesson_id,
        title=rec.lesson.title,
        subject=rec.lesson.subject,
        subject_id=rec.lesson.subject_id,
        grade_id=rec.lesson.grade_id,
        grade=(grades or {}).get(rec.lesson.grade_id or 0, ""),
        description=rec.lesson.description,
        school_id=rec.lesson.school_id,
        lecturer_account_id=rec.lesson.lecturer_account_id,
        lecturer_name=rec.lesson.lecturer_name,
        join_code=rec.lesson.join_code,
        classroom_ids=sorted(c.id for c in rec.lesson.classrooms),
        state=rec.state,
        failure_reason=rec.failure_reason,
        progress=rec.progress,
        started_at=rec.started_at,
        ended_at=rec.ended_at,
        duration_s=rec.duration_s,
        size_bytes=rec.size_bytes,
        has_screen=rec.has_screen,
        partial=rec.partial,
        note=rec.note,
        media_url=url("media"),
        screen_url=url("screen") if rec.has_screen else None,
        poster_url=url("poster"),
        manifest_url=url("manifest"),
        download_url=url("download") if downloads else None,
    )


async def file_access(
    recording_id: str,
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ticket: str | None = Query(None, max_length=4096),
) -> Who:
    """A media ticket for this recording (this very row: an id freed and taken again does
    not match the ticket's row key), or a caller who may see it; who it is (the log's)."""
    if ticket is not None:
        rec = await _recording(svc, recording_id)
        claims = svc.tokens.ticket_claims(ticket, rec.id, rec.row_key)
        if claims is not None:
            return who_of_ticket(claims)
    if credentials is None:
        raise Unauthorized(
            "a media ticket or a staff token is required", code=ErrorCode.TOKEN_MISSING
        )
    who = await caller(svc, credentials)
    if who.account is None and who.role not in (Role.ADMIN, Role.STAFF):
        raise Forbidden("recordings are for staff")
    if not recording_allows(who, await _recording(svc, recording_id)):
        raise Forbidden("this recording is not of your lessons")
    return who_of(who)


FileAccess = Depends(file_access)


@router.get("", dependencies=[People])
async def list_recordings(
    svc: ServicesDep,
    who: CallerDep,
    subject: SearchQuery = None,
    subject_id: OptionalIdQuery = None,
    grade_id: OptionalIdQuery = None,
    lecturer: SearchQuery = None,
    lecturer_account_id: OptionalIdQuery = None,
    classroom_id: OptionalIdQuery = None,
    school_id: OptionalIdQuery = None,
    weekday: Annotated[
        list[Annotated[int, Field(ge=1, le=7)]],
        Query(max_length=7, description="ISO weekdays, 1 Monday … 7 Sunday, county time"),
    ] = [],  # noqa: B006 - FastAPI copies it
    period: Annotated[Period | None, Query(description="in the county's time zone")] = None,
    # With a zone: the catalog compares instants (a naive time would be a server error).
    date_from: AwareDatetime | None = None,
    date_to: AwareDatetime | None = None,
    q: SearchQuery = None,
    sort: Annotated[
        Literal["newest", "rewatched"],
        Query(description="newest first, or most re-watched (watch time, then replays)"),
    ] = "newest",
    limit: int = Query(24, ge=1, le=200),
    offset: OffsetQuery = 0,
) -> RecordingPageOut:
    """Recordings, newest first; filter by subject (id, or name), grade, lecturer (account, or
    name), classroom, school (its own lessons and those inviting its classrooms), weekday and
    period (``this_week``, ``last_week``, ``this_term``) in the county's time zone, and dates;
    ``q`` searches titles, descriptions and chapters (Chinese too: any part of a word), best
    match first; ``sort=rewatched``: most watch time first (every second played counts, again
    when re-watched), then most replays. A school admin sees their school's lessons'
    recordings; a lecturer's account their own."""
    scope_school, scope_lecturer = listing_scope(who)
    zone = svc.settings.county_zone
    if date_from is not None and date_to is not None and date_to < date_from:
        raise BadRequest("date_to comes before date_from", code=ErrorCode.VALIDATION_FAILED)
    span = period_span(period, utcnow(), zone, svc.settings.terms) if period else None
    if span is not None:
        # Both hold: dates outside the period find nothing (not an error).
        date_from = max(date_from, span.start) if date_from else span.start
        date_to = min(date_to, span.end) if date_to else span.end
    page = await svc.catalog.list_recordings(
        limit,
        offset,
        subject=subject,
        lecturer=lecturer,
        classroom_id=classroom_id,
        date_from=date_from,
        date_to=date_to,
        q=q,
        school_id=scope_school,
        lecturer_account_id=scope_lecturer,
        library=LibraryFilter(
            subject_id=subject_id,
            grade_id=grade_id,
            lecturer_account_id=lecturer_account_id,
            school_id=school_id,
            weekdays=frozenset(weekday),
            zone=zone.key,
        ),
        sort=sort,
    )
    grades = await svc.catalog.vocabulary_names("grade")
    off = await svc.catalog.downloads_off_schools()
    items = [recording_out(svc, r, grades, who, off) for r in page.items]
    views = await svc.catalog.recording_views([r.id for r in page.items])
    for item in items:
        item.views, item.watch_s = views.get(item.id, (0, 0.0))
    if q:
        found = await svc.catalog.search_matches(page.items, q)
        for item in items:
            item.matches = [
                MatchOut(source=s, text=t, at_s=a) for s, t, a in found.get(item.id, [])
            ]
    period_out = None
    if span is not None and period is not None:
        period_out = PeriodOut(
            period=period,
            timezone=zone.key,
            first_day=span.first_day,
            last_day=span.last_day,
            start=span.start,
            end=span.end,
            term=span.name,
        )
    return RecordingPageOut(
        items=items, total=page.total, limit=limit, offset=offset, period=period_out
    )


@router.get("/{recording_id}", dependencies=[People])
async def get_recording(recording_id: str, svc: ServicesDep, who: CallerDep) -> RecordingOut:
    rec = await _recording(svc, recording_id)
    if not recording_allows(who, rec):
        raise Forbidden("this recording is not of your lessons")
    return recording_out(svc, rec, None, who, await svc.catalog.downloads_off_schools())


# A recording in these states is still being written: it cannot be deleted yet.
_BUSY = {
    "recording": ErrorCode.RECORDING_RECORDING,
    "stopped": ErrorCode.RECORDING_STOPPED,
    "finalizing": ErrorCode.RECORDING_FINALIZING,
}


async def remove_recording(svc: Services, rec: Recording) -> None:
    """Delete a finished recording: its catalog row, then its folder (the one way recordings
    are deleted: this route and the retention run). Its capsules stay (their own folders)."""
    busy = _BUSY.get(rec.state)
    if busy is not None:
        raise Conflict(f"the recording is {rec.state}", code=busy)
    directory = _directory(svc, rec)
    await svc.catalog.delete_recording(rec.id)
    await asyncio.get_running_loop().run_in_executor(
        None, lambda: shutil.rmtree(directory, ignore_errors=True)
    )


@router.delete("/{recording_id}", status_code=204, dependencies=[AdminOnly])
async def delete_recording(recording_id: str, svc: ServicesDep) -> Response:
    await remove_recording(svc, await _recording(svc, recording_id))
    return Response(status_code=204)


def _serve(directory: Path, name: str, media_type: str, download: str | None = None) -> Response:
    path = directory / name
    if not path.is_file():
        raise NotFound("this recording has no such file")
    return FileResponse(
        path,
        media_type=media_type,
        filename=download,
        headers={"Cache-Control": "private, max-age=3600"},
    )


async def _ready_directory(svc: Services, recording_id: str) -> Path:
    rec = await _recording(svc, recording_id)
    if rec.state != "ready":
        raise NotFound(f"the recording is {rec.state}; its files are not ready")
    return _directory(svc, rec)


def _file_route(kind: str) -> None:
    name, media_type = FILES[kind]

    async def serve(recording_id: str, svc: ServicesDep) -> Response:
        return _serve(await _ready_directory(svc, recording_id), name, media_type)

    serve.__name__ = f"recording_{kind}"
    serve.__doc__ = f"The recording's {name} (HTTP range requests supported)."
    router.add_api_route(
        f"/{{recording_id}}/{kind}",
        serve,
        methods=["GET"],
        dependencies=[FileAccess],
        response_class=FileResponse,
    )


for _kind in FILES:
    _file_route(_kind)


@router.get("/{recording_id}/download", response_class=FileResponse)
async def download(
    recording_id: str,
    svc: ServicesDep,
    request: Request,
    by: Annotated[Who, FileAccess],
) -> Response:
    """The lesson's MP4 as a file; 403 ``downloads_off`` when its school turned downloads
    off. Each download is written to the access log."""
    rec = await _recording(svc, recording_id)
    await refuse_if_downloads_off(svc, rec.lesson.school_id)
    directory = await _ready_directory(svc, recording_id)
    response = _serve(directory, "lesson.mp4", "video/mp4", f"lesson-{rec.lesson.join_code}.mp4")
    note(
        svc,
        "download",
        by,
        request,
        title=rec.lesson.title,
        school_id=rec.lesson.school_id,
        recording_id=rec.id,
    )
    return response


@router.get("/{recording_id}/thumbnails/{index}", dependencies=[FileAccess])
async def thumbnail(recording_id: str, index: str, svc: ServicesDep) -> Response:
    if not index.isascii() or not index.isdigit() or int(index) >= MAX_THUMBNAILS:
        raise NotFound("no such thumbnail")
    directory = await _ready_directory(svc, recording_id)
    return _serve(directory, f"thumb-{int(index):03d}.jpg", "image/jpeg")


@router.get("/{recording_id}/manifest", dependencies=[FileAccess])
async def manifest(recording_id: str, svc: ServicesDep) -> dict[str, Any]:
    """Duration, tracks, stage periods, chapters and thumbnails (with their URLs)."""
    rec = await _recording(svc, recording_id)
    rid = rec.id
    directory = await _ready_directory(svc, recording_id)
    path = directory / "manifest.json"
    if not path.is_file():
        raise NotFound("this recording has no manifest")
    data: dict[str, Any] = json.loads(
        await asyncio.get_running_loop().run_in_executor(None, path.read_text)
    )
    ticket = svc.tokens.issue_ticket(rid, rec.row_key, svc.settings.auth.access_token_ttl_s)
    for thumb in data.get("thumbnails", []):
        thumb["url"] = f"/api/recordings/{rid}/thumbnails/{thumb['index']}?ticket={ticket}"
    data.pop("segments", None)
    return data
