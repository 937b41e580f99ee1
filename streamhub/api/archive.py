"""The archive's care: who watched what (the access log, read and exported as CSV by county and
school admins), retention policies and their run (the county's), and the disk-usage view.

Retention deletes a recording exactly as ``DELETE /api/recordings/{id}`` does
(streamhub.api.recordings.remove_recording); it never touches a capsule (their own folders
under ``<recordings>/capsules``) nor a recording of a lesson the lecturer marked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, Field

from streamhub.api.auth import AdminOnly, Admins, CallerDep, ServicesDep
from streamhub.api.capsules import FOLDER as CAPSULES_FOLDER
from streamhub.api.recordings import remove_recording
from streamhub.api.schemas import Body, Id, IdPath, OffsetQuery, OptionalIdQuery, PageOut
from streamhub.catalog.archive import AccessFilter, ArchivedRecording
from streamhub.catalog.models import AccessEntry, utcnow
from streamhub.csv_export import csv_text
from streamhub.errors import BadRequest, ErrorCode, NotFound, StreamhubError
from streamhub.services import Services

logger = logging.getLogger(__name__)
router = APIRouter(tags=["archive"])

# Rows of one CSV export at most (narrow by dates for more).
CSV_MAX_ROWS = 50_000
# Keep at most this many days (about 100 years): longer is "forever", say it with no policy.
MAX_KEEP_DAYS = 36_500

Action = Literal["replay", "download", "capsule_view"]


class AccessEntryOut(Body):
    id: int
    at: datetime
    action: str
    who: str
    who_name: str
    recording_id: int | None
    capsule_id: int | None
    title: str
    school_id: int | None
    client_ip: str


def _entry_out(row: AccessEntry) -> AccessEntryOut:
    return AccessEntryOut(
        id=row.id,
        at=row.at,
        action=row.action,
        who=row.who,
        who_name=row.who_name,
        recording_id=row.recording_id,
        capsule_id=row.capsule_id,
        title=row.title,
        school_id=row.school_id,
        client_ip=row.client_ip,
    )


def _access_filter(
    who: CallerDep,
    school_id: OptionalIdQuery = None,
    recording_id: OptionalIdQuery = None,
    capsule_id: OptionalIdQuery = None,
    action: Action | None = None,
    date_from: AwareDatetime | None = None,
    date_to: AwareDatetime | None = None,
) -> AccessFilter:
    """A school admin reads their own school's entries only (asking for another school's
    finds nothing rather than everything)."""
    if date_from is not None and date_to is not None and date_to < date_from:
        raise BadRequest("date_to comes before date_from", code=ErrorCode.VALIDATION_FAILED)
    if not who.county:
        school_id = -1 if school_id not in (None, who.school) or who.school is None else who.school
    return AccessFilter(
        school_id=school_id,
        recording_id=recording_id,
        capsule_id=capsule_id,
        action=action,
        date_from=date_from,
        date_to=date_to,
    )


@router.get("/api/access-log", dependencies=[Admins])
async def access_log(
    svc: ServicesDep,
    who: CallerDep,
    school_id: OptionalIdQuery = None,
    recording_id: OptionalIdQuery = None,
    capsule_id: OptionalIdQuery = None,
    action: Action | None = None,
    date_from: AwareDatetime | None = None,
    date_to: AwareDatetime | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: OffsetQuery = 0,
) -> PageOut[AccessEntryOut]:
    """Who replayed, downloaded or viewed what, newest first: the county every entry, a
    school admin their school's recordings' and capsules'. Dates: ``date_from`` included,
    ``date_to`` excluded."""
    access = _access_filter(who, school_id, recording_id, capsule_id, action, date_from, date_to)
    page = await svc.catalog.list_access(access, limit, offset)
    items = [_entry_out(r) for r in page.items]
    return PageOut(items=items, total=page.total, limit=limit, offset=offset)


CSV_COLUMNS = [
    "at",
    "action",
    "who",
    "who_name",
    "recording_id",
    "capsule_id",
    "title",
    "school_id",
    "client_ip",
]


@router.get("/api/access-log.csv", dependencies=[Admins])
async def access_log_csv(
    svc: ServicesDep,
    who: CallerDep,
    school_id: OptionalIdQuery = None,
    recording_id: OptionalIdQuery = None,
    capsule_id: OptionalIdQuery = None,
    action: Action | None = None,
    date_from: AwareDatetime | None = None,
    date_to: AwareDatetime | None = None,
) -> Response:
    """The same entries as CSV (UTF-8 with a BOM, for spreadsheets), newest first, at most
    50 000 rows (``X-Truncated: true`` when there were more)."""
    access = _access_filter(who, school_id, recording_id, capsule_id, action, date_from, date_to)
    page = await svc.catalog.list_access(access, CSV_MAX_ROWS, 0)
    rows = ([getattr(row, column) for column in CSV_COLUMNS] for row in page.items)
    headers = {"Content-Disposition": 'attachment; filename="access-log.csv"'}
    if page.total > len(page.items):
        headers["X-Truncated"] = "true"
    return Response(
        csv_text(CSV_COLUMNS, rows), media_type="text/csv; charset=utf-8", headers=headers
    )


# ------------------------------------------------------------------ retention


class PolicyIn(Body):
    # Neither: the county's default; a school, a subject, or both: narrower ones win.
    school_id: Id | None = None
    subject_id: Id | None = None
    keep_days: int = Field(ge=1, le=MAX_KEEP_DAYS)


class PolicyPatch(Body):
    keep_days: int = Field(ge=1, le=MAX_KEEP_DAYS)


class PolicyOut(Body):
    id: int
    school_id: int | None
    subject_id: int | None
    keep_days: int
    created_at: datetime


@router.get("/api/retention/policies", dependencies=[AdminOnly])
async def list_policies(svc: ServicesDep) -> list[PolicyOut]:
    """Every policy. A recording keeps the days of the most specific one that matches it
    (school and subject, school, subject, the county's default); none: kept for ever."""
    return [
        PolicyOut.model_validate(p, from_attributes=True) for p in await svc.catalog.list_policies()
    ]


@router.post("/api/retention/policies", status_code=201, dependencies=[AdminOnly])
async def add_policy(body: PolicyIn, svc: ServicesDep) -> PolicyOut:
    """409 ``policy_exists`` when one for this school and subject exists (change that)."""
    row = await svc.catalog.add_policy(body.school_id, body.subject_id, body.keep_days)
    return PolicyOut.model_validate(row, from_attributes=True)


@router.patch("/api/retention/policies/{policy_id}", dependencies=[AdminOnly])
async def change_policy(policy_id: IdPath, body: PolicyPatch, svc: ServicesDep) -> PolicyOut:
    row = await svc.catalog.update_policy(policy_id, body.keep_days)
    return PolicyOut.model_validate(row, from_attributes=True)


@router.delete("/api/retention/policies/{policy_id}", status_code=204, dependencies=[AdminOnly])
async def delete_policy(policy_id: IdPath, svc: ServicesDep) -> Response:
    await svc.catalog.delete_policy(policy_id)
    return Response(status_code=204)


class RunIn(Body):
    # True: list what would be deleted, delete nothing.
    dry_run: bool = True


class ExpiredOut(Body):
    recording_id: int
    lesson_id: int
    title: str
    school_id: int | None
    subject_id: int | None
    ended_at: datetime
    keep_days: int
    deleted: bool
    error: str = ""


class RunOut(Body):
    dry_run: bool
    at: datetime
    recordings: list[ExpiredOut]
    deleted: int
    # Access-log entries deleted (older than archive.access_log_keep_days).
    access_entries_deleted: int = 0


async def run_retention(svc: Services, *, dry_run: bool) -> RunOut:
    """Delete (or, dry, list) every finished recording older than its policy allows."""
    now = utcnow()
    out: list[ExpiredOut] = []
    for rec, days in await svc.catalog.expired_recordings(now):
        item = ExpiredOut(
            recording_id=rec.id,
            lesson_id=rec.lesson_id,
            title=rec.title,
            school_id=rec.school_id,
            subject_id=rec.subject_id,
            ended_at=rec.ended,
            keep_days=days,
            deleted=False,
        )
        if not dry_run:
            try:
                await remove_recording(svc, await svc.catalog.get_recording(rec.id))
                item.deleted = True
            except NotFound:
                item.error = "already deleted"  # another node's run, or an admin
            except StreamhubError as exc:
                item.error = str(exc)
        out.append(item)
    deleted = sum(1 for item in out if item.deleted)
    if deleted:
        logger.info("retention: %d recordings deleted", deleted)
    pruned = 0
    keep_log = svc.settings.archive.access_log_keep_days
    if keep_log and not dry_run:
        pruned = await svc.catalog.prune_access(now - timedelta(days=keep_log))
    return RunOut(
        dry_run=dry_run, at=now, recordings=out, deleted=deleted, access_entries_deleted=pruned
    )


@router.post("/api/retention/run", dependencies=[AdminOnly])
async def run_now(body: RunIn, svc: ServicesDep) -> RunOut:
    """Apply the policies now (``dry_run``, the default: list only). Capsules and recordings
    of lessons with lecturer marks are never deleted."""
    return await run_retention(svc, dry_run=body.dry_run)


class RetentionJob:
    """The periodic run (``archive.retention_every_s``), owned by the app: cancelled on
    shutdown. A failed run is logged and the next one comes on time."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._svc.settings.archive.retention_every_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="retention")

    async def _run(self) -> None:
        every = self._svc.settings.archive.retention_every_s
        while True:
            await asyncio.sleep(every)
            try:
                await run_retention(self._svc, dry_run=False)
            except Exception:
                logger.exception("retention run failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


# ------------------------------------------------------------------ disk


class BytesOut(Body):
    id: int | None
    name: str
    bytes: int
    recordings: int


class DiskOut(Body):
    recordings_bytes: int
    by_school: list[BytesOut]
    by_subject: list[BytesOut]
    capsules_bytes: int
    # Files in the recordings folder that are neither a recording's nor a capsule's.
    other_bytes: int
    total_bytes: int
    free_bytes: int
    disk_bytes: int


def tree_bytes(path: Path) -> int:
    """Apparent size of every file under path (as ``du -b`` sums files; folders not counted),
    symlinks not followed."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


@dataclass(frozen=True)
class Measured:
    per_recording: dict[int, int]
    capsules: int
    total: int
    free: int
    disk: int


def measure(root: Path, recordings: list[ArchivedRecording]) -> Measured:
    """Blocking (run in the executor): walks the folders."""
    root = root.resolve()
    per: dict[int, int] = {}
    for rec in recordings:
        directory = (root / rec.directory).resolve()
        if directory.is_relative_to(root) and directory != root and directory.is_dir():
            per[rec.id] = tree_bytes(directory)
        else:
            per[rec.id] = 0
    usage = shutil.disk_usage(root)
    return Measured(
        per, tree_bytes(root / CAPSULES_FOLDER), tree_bytes(root), usage.free, usage.total
    )


@router.get("/api/disk", dependencies=[AdminOnly])
async def disk(svc: ServicesDep) -> DiskOut:
    """Bytes on disk per school and per subject (of their lessons' recordings), of capsules,
    and the free space of the recordings' disk (measured off the event loop)."""
    recordings = await svc.catalog.archived_recordings(expirable_only=False)
    schools, subjects = await svc.catalog.names()
    root = svc.settings.effective_recordings_dir
    got = await asyncio.get_running_loop().run_in_executor(None, lambda: measure(root, recordings))

    def group(key: str, names: dict[int, str]) -> list[BytesOut]:
        sums: dict[int | None, list[int]] = {}
        for rec in recordings:
            ident = getattr(rec, key)
            entry = sums.setdefault(ident, [0, 0])
            entry[0] += got.per_recording[rec.id]
            entry[1] += 1
        rows = [
            BytesOut(id=i, name=names.get(i, "") if i is not None else "", bytes=b, recordings=n)
            for i, (b, n) in sums.items()
        ]
        rows.sort(key=lambda r: (-r.bytes, r.id or 0))
        return rows

    recorded = sum(got.per_recording.values())
    return DiskOut(
        recordings_bytes=recorded,
        by_school=group("school_id", schools),
        by_subject=group("subject_id", subjects),
        capsules_bytes=got.capsules,
        other_bytes=max(0, got.total - recorded - got.capsules),
        total_bytes=got.total,
        free_bytes=got.free,
        disk_bytes=got.disk,
    )
