"""Knowledge capsules: cut from a recording in the replay page, listed on the capsule shelf
(filters by subject, grade, knowledge point and tag), downloaded and deleted.

A capsule is read by whoever may read its recording (streamhub.api.access.capsule_allows),
and keeps what that takes (school, lecturer account) on its own row: it outlives the
recording and the lesson. Its files live under ``<recordings folder>/capsules``, found by id
through the catalog; nothing from a request becomes part of a path."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import Field, StringConstraints

from streamhub.access_log import Who
from streamhub.api.access import (
    capsule_allows,
    capsule_manages,
    listing_scope,
    recording_allows,
)
from streamhub.api.auth import Caller, CallerDep, People, ServicesDep, bearer_scheme, caller
from streamhub.api.schemas import NO_NUL, Body, Id, Label, Name, OffsetQuery, PageOut, SearchQuery
from streamhub.api.watched_by import (
    note,
    refuse_if_downloads_off,
    ticket_by,
    who_of,
    who_of_ticket,
)
from streamhub.capsules.cut import CLIP, POSTER, THUMB, CutError, cut_clip
from streamhub.catalog.models import MAX_ID, Capsule, Lesson
from streamhub.errors import BadRequest, ErrorCode, Forbidden, NotFound, Unauthorized
from streamhub.protocol import Role
from streamhub.services import Services

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/capsules", tags=["capsules"])

FOLDER = "capsules"
FILES = {
    "media": (CLIP, "video/mp4"),
    "poster": (POSTER, "image/jpeg"),
    "thumb": (THUMB, "image/jpeg"),
}
# A capsule may end a little past the recording's end as the catalog has it (rounding).
END_SLACK_S = 0.5

Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=NO_NUL)
]
Grade = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60, pattern=NO_NUL)]
Point = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)]


class CapsuleIn(Body):
    recording_id: Id
    # On the recording's timeline, seconds (from the player, a chapter, a marker).
    start_s: float = Field(ge=0, le=86400)
    end_s: float = Field(gt=0, le=86400)
    title: Name
    # One of the county's subjects and grades (GET /api/subjects, /api/grades), by id or by
    # name, not a retired one; left out: the lesson's own.
    subject: Label = ""
    subject_id: Id | None = None
    grade: Grade = ""
    grade_id: Id | None = None
    knowledge_point: Point = ""
    tags: list[Tag] = Field(default_factory=list, max_length=12)
    # Where the ends came from: the player's position, a chapter, a lecturer's marker or a
    # question (the last two are chapters of the manifest once issue 15 lands).
    source: Literal["player", "chapter", "marker", "question"] = "player"
    source_label: Point = ""
    # Start at the key frame at or before start_s (up to 2 s earlier) and copy every packet,
    # rather than re-encode the clip to start exactly at start_s.
    snap: bool = False


class CapsuleOut(Body):
    id: int
    recording_id: int | None
    lesson_id: int | None
    lesson_title: str
    lecturer_name: str
    title: str
    subject: str
    grade: str
    # None: no subject (grade), or a capsule's free text from before they were lists.
    subject_id: int | None
    grade_id: int | None
    knowledge_point: str
    tags: list[str]
    source: str
    source_label: str
    start_s: float
    end_s: float
    requested_start_s: float
    duration_s: float
    reencoded: bool
    size_bytes: int
    created_at: datetime
    can_delete: bool
    # Replay data (views: replays; watch_s: seconds played, re-watches included).
    views: int = 0
    watch_s: float = 0.0
    media_url: str
    poster_url: str | None
    thumb_url: str | None
    # None when the capsule's school turned downloads off.
    download_url: str | None
    # The shelf page with this capsule open: staff who may read it sign in and see it.
    share_url: str


class FacetsOut(Body):
    subjects: list[str]
    grades: list[str]
    knowledge_points: list[str]
    tags: list[str]


def _cid(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12 or int(raw) > MAX_ID:
        raise NotFound("no such capsule")
    return int(raw)


def capsules_root(svc: Services) -> Path:
    return (svc.settings.effective_recordings_dir / FOLDER).resolve()


def _directory(svc: Services, capsule: Capsule) -> Path:
    root = svc.settings.effective_recordings_dir.resolve()
    directory = (root / capsule.directory).resolve()
    if not directory.is_relative_to(capsules_root(svc)) or directory == capsules_root(svc):
        raise NotFound("no such capsule")
    return directory


def capsule_out(
    svc: Services,
    capsule: Capsule,
    who: Caller,
    views: tuple[int, float] = (0, 0.0),
    downloads_off: set[int] | frozenset[int] = frozenset(),
) -> CapsuleOut:
    """No download link for a school in ``downloads_off``; the media ticket names ``who``
    (the access log's downloader)."""
    base = f"/api/capsules/{capsule.id}"
    ticket = svc.tokens.issue_ticket(
        capsule.id, capsule.row_key, svc.settings.auth.access_token_ttl_s, by=ticket_by(who)
    )
    downloads = capsule.school_id not in downloads_off
    return CapsuleOut(
        id=capsule.id,
        recording_id=capsule.recording_id,
        lesson_id=capsule.lesson_id,
        lesson_title=capsule.lesson_title,
        lecturer_name=capsule.lecturer_name,
        title=capsule.title,
        subject=capsule.subject,
        grade=capsule.grade,
        subject_id=capsule.subject_id,
        grade_id=capsule.grade_id,
        knowledge_point=capsule.knowledge_point,
        tags=[t.tag for t in capsule.tags],
        source=capsule.source,
        source_label=capsule.source_label,
        start_s=capsule.start_s,
        end_s=capsule.end_s,
        requested_start_s=capsule.requested_start_s,
        duration_s=capsule.duration_s,
        reencoded=capsule.reencoded,
        size_bytes=capsule.size_bytes,
        created_at=capsule.created_at,
        can_delete=capsule_manages(who, capsule),
        views=views[0],
        watch_s=views[1],
        media_url=f"{base}/media?ticket={ticket}",
        poster_url=f"{base}/poster?ticket={ticket}" if capsule.has_poster else None,
        thumb_url=f"{base}/thumb?ticket={ticket}" if capsule.has_poster else None,
        download_url=f"{base}/download?ticket={ticket}" if downloads else None,
        share_url=f"/capsules#capsule={capsule.id}",
    )


async def readable_capsule(svc: Services, who: Caller, raw: str) -> Capsule:
    capsule = await svc.catalog.get_capsule(_cid(raw))
    if not capsule_allows(who, capsule):
        raise Forbidden("this capsule is not of your lessons")
    return capsule


async def _subject_and_grade(svc: Services, body: CapsuleIn, lesson: Lesson) -> dict[str, Any]:
    """The capsule's subject and grade from the county's lists (400 ``unknown_subject`` /
    ``unknown_grade`` for one it does not have or has retired), else the lesson's own."""
    out: dict[str, Any] = {}
    if body.subject_id is not None or body.subject:
        row = await svc.catalog.pick_vocabulary("subject", ident=body.subject_id, name=body.subject)
        out.update(subject=row.name, subject_id=row.id)
    else:
        out.update(subject=lesson.subject, subject_id=lesson.subject_id)
    if body.grade_id is not None or body.grade:
        row = await svc.catalog.pick_vocabulary("grade", ident=body.grade_id, name=body.grade)
        out.update(grade=row.name[:60], grade_id=row.id)
    elif lesson.grade_id is not None:
        names = await svc.catalog.vocabulary_names("grade")
        out.update(grade=names.get(lesson.grade_id, "")[:60], grade_id=lesson.grade_id)
    return out


@router.post("", status_code=201, dependencies=[People])
async def create_capsule(body: CapsuleIn, svc: ServicesDep, who: CallerDep) -> CapsuleOut:
    """Cut a capsule from a ready recording (the call returns once the clip is made: seconds
    when it is copied, about real time / 5 when its video is re-encoded)."""
    rec = await svc.catalog.get_recording(body.recording_id)
    if not recording_allows(who, rec):
        raise Forbidden("this recording is not of your lessons")
    if rec.state != "ready":
        raise NotFound(f"the recording is {rec.state}; it cannot be cut yet")
    if body.end_s <= body.start_s:
        raise BadRequest("end_s must be after start_s")
    if body.end_s - body.start_s > svc.settings.capsules.max_length_s:
        raise BadRequest(f"a capsule is at most {svc.settings.capsules.max_length_s:g} s long")
    if body.start_s >= rec.duration_s or body.end_s > rec.duration_s + END_SLACK_S:
        raise BadRequest(f"the recording is {rec.duration_s:.1f} s long")
    topic = await _subject_and_grade(svc, body, rec.lesson)
    root = svc.settings.effective_recordings_dir.resolve()
    source = (root / rec.directory).resolve() / "lesson.mp4"
    if not source.is_relative_to(root) or not source.is_file():
        raise NotFound("this recording has no media file")
    name = f"{FOLDER}/capsule-{secrets.token_hex(8)}"
    out_dir = root / name
    loop = asyncio.get_running_loop()
    async with svc.capsule_cuts:
        try:
            cut = await loop.run_in_executor(
                None,
                lambda: cut_clip(source, out_dir, body.start_s, body.end_s, snap=body.snap),
            )
        except CutError as exc:
            await loop.run_in_executor(None, lambda: shutil.rmtree(out_dir, ignore_errors=True))
            raise BadRequest(str(exc)) from exc
    lesson = rec.lesson
    try:
        capsule = await svc.catalog.create_capsule(
            body.tags,
            recording_id=rec.id,
            lesson_id=lesson.id,
            school_id=lesson.school_id,
            lecturer_account_id=lesson.lecturer_account_id,
            created_by_account_id=who.account.id if who.account is not None else None,
            lesson_title=lesson.title,
            lecturer_name=lesson.lecturer_name,
            title=body.title,
            **topic,
            knowledge_point=body.knowledge_point,
            source=body.source,
            source_label=body.source_label,
            start_s=cut.start_s,
            end_s=cut.end_s,
            requested_start_s=body.start_s,
            duration_s=cut.duration_s,
            reencoded=cut.reencoded,
            directory=name,
            size_bytes=cut.size_bytes,
            has_poster=cut.has_poster,
        )
    except BaseException:
        await loop.run_in_executor(None, lambda: shutil.rmtree(out_dir, ignore_errors=True))
        raise
    logger.info(
        "capsule %s cut from recording %s (%.1f-%.1f s, %s)",
        capsule.id,
        rec.id,
        cut.start_s,
        cut.end_s,
        "re-encoded" if cut.reencoded else "copied",
    )
    return capsule_out(svc, capsule, who, downloads_off=await svc.catalog.downloads_off_schools())


@router.get("", dependencies=[People])
async def list_capsules(
    svc: ServicesDep,
    who: CallerDep,
    subject: SearchQuery = None,
    grade: SearchQuery = None,
    subject_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    grade_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    knowledge_point: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    tag: SearchQuery = None,
    q: SearchQuery = None,
    recording_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: int = Query(24, ge=1, le=200),
    offset: OffsetQuery = 0,
) -> PageOut[CapsuleOut]:
    """The capsule shelf, newest first (a school admin: their school's; a lecturer's account:
    those of their lessons; staff and the county: all)."""
    school_id, lecturer_id = listing_scope(who)
    page = await svc.catalog.list_capsules(
        limit,
        offset,
        subject=subject,
        grade=grade,
        subject_id=subject_id,
        grade_id=grade_id,
        knowledge_point=knowledge_point,
        tag=tag,
        q=q,
        recording_id=recording_id,
        school_id=school_id,
        lecturer_account_id=lecturer_id,
    )
    views = await svc.catalog.capsule_views([c.id for c in page.items])
    off = await svc.catalog.downloads_off_schools()
    items = [capsule_out(svc, c, who, views.get(c.id, (0, 0.0)), off) for c in page.items]
    return PageOut(items=items, total=page.total, limit=limit, offset=offset)


@router.get("/facets", dependencies=[People])
async def capsule_facets(svc: ServicesDep, who: CallerDep) -> FacetsOut:
    """Every subject, grade, knowledge point and tag on the caller's shelf (for the filters)."""
    school_id, lecturer_id = listing_scope(who)
    return FacetsOut(**await svc.catalog.capsule_facets(school_id, lecturer_id))


@router.get("/{capsule_id}", dependencies=[People])
async def get_capsule(capsule_id: str, svc: ServicesDep, who: CallerDep) -> CapsuleOut:
    capsule = await readable_capsule(svc, who, capsule_id)
    views = await svc.catalog.capsule_views([capsule.id])
    off = await svc.catalog.downloads_off_schools()
    return capsule_out(svc, capsule, who, views.get(capsule.id, (0, 0.0)), off)


@router.delete("/{capsule_id}", status_code=204, dependencies=[People])
async def delete_capsule(capsule_id: str, svc: ServicesDep, who: CallerDep) -> Response:
    """Delete a capsule and its files (the county, its school's admin, its lesson's lecturer
    account, the account that cut it)."""
    capsule = await svc.catalog.get_capsule(_cid(capsule_id))
    if not capsule_manages(who, capsule):
        raise Forbidden("this capsule is not yours to delete")
    directory = _directory(svc, capsule)
    await svc.catalog.delete_capsule(capsule.id)
    await asyncio.get_running_loop().run_in_executor(
        None, lambda: shutil.rmtree(directory, ignore_errors=True)
    )
    return Response(status_code=204)


async def capsule_file_access(
    capsule_id: str,
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ticket: str | None = Query(None, max_length=4096),
) -> Who:
    """A media ticket of this capsule (its row key: no recording's ticket opens it), or a
    caller who may read it; who it is (the access log's)."""
    if ticket is not None:
        capsule = await svc.catalog.get_capsule(_cid(capsule_id))
        claims = svc.tokens.ticket_claims(ticket, capsule.id, capsule.row_key)
        if claims is not None:
            return who_of_ticket(claims)
    if credentials is None:
        raise Unauthorized(
            "a media ticket or a staff token is required", code=ErrorCode.TOKEN_MISSING
        )
    who = await caller(svc, credentials)
    if who.account is None and who.role not in (Role.ADMIN, Role.STAFF):
        raise Forbidden("capsules are for staff")
    if not capsule_allows(who, await svc.catalog.get_capsule(_cid(capsule_id))):
        raise Forbidden("this capsule is not of your lessons")
    return who_of(who)


CapsuleFileAccess = Depends(capsule_file_access)


def _serve(path: Path, media_type: str, download: str | None = None) -> Response:
    if not path.is_file():
        raise NotFound("this capsule has no such file")
    return FileResponse(
        path,
        media_type=media_type,
        filename=download,
        headers={"Cache-Control": "private, max-age=3600"},
    )


def _file_route(kind: str) -> None:
    name, media_type = FILES[kind]

    async def serve(capsule_id: str, svc: ServicesDep) -> Response:
        capsule = await svc.catalog.get_capsule(_cid(capsule_id))
        return _serve(_directory(svc, capsule) / name, media_type)

    serve.__name__ = f"capsule_{kind}"
    serve.__doc__ = f"The capsule's {name} (HTTP range requests supported)."
    router.add_api_route(
        f"/{{capsule_id}}/{kind}",
        serve,
        methods=["GET"],
        dependencies=[CapsuleFileAccess],
        response_class=FileResponse,
    )


for _kind in FILES:
    _file_route(_kind)


@router.get("/{capsule_id}/download", response_class=FileResponse)
async def download_capsule(
    capsule_id: str,
    svc: ServicesDep,
    request: Request,
    by: Annotated[Who, CapsuleFileAccess],
) -> Response:
    """The clip as a file; 403 ``downloads_off`` when its school turned downloads off. Each
    download is written to the access log."""
    capsule = await svc.catalog.get_capsule(_cid(capsule_id))
    await refuse_if_downloads_off(svc, capsule.school_id)
    response = _serve(_directory(svc, capsule) / CLIP, "video/mp4", f"capsule-{capsule.id}.mp4")
    note(
        svc,
        "download",
        by,
        request,
        title=capsule.title,
        school_id=capsule.school_id,
        capsule_id=capsule.id,
    )
    return response
