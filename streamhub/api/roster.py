"""A lesson at a glance for its lecturer: the roster of its classrooms (before and during the
lesson), and what comes after it (her next lesson, where the recording will appear)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from streamhub.api.access import Use, lesson_access
from streamhub.api.auth import CallerDep, ServicesDep
from streamhub.api.schemas import IdPath
from streamhub.catalog.roster import next_lesson_of, recordings_of, roster_sources
from streamhub.lesson.roster import Member, Roster, build_roster
from streamhub.protocol import DeviceHealth, Role
from streamhub.services import Services

router = APIRouter(prefix="/api/lessons", tags=["lessons"])


class NextLessonOut(BaseModel):
    title: str
    subject: str
    scheduled_start: datetime


class RecordingPlaceOut(BaseModel):
    id: int
    state: str
    # The library page that will play it (staff open it with their token).
    library_url: str


class FollowupOut(BaseModel):
    status: str
    next_lesson: NextLessonOut | None
    recordings: list[RecordingPlaceOut]
    recording_enabled: bool
    library_url: str


async def _members(svc: Services, lesson_id: int) -> list[Member]:
    room = svc.lessons.rooms.get(lesson_id)
    if room is not None:
        return [
            Member(
                participant=m.id,
                classroom_id=m.classroom_id,
                name=m.name,
                connected=getattr(m.peer, "connected_at", None) is not None,
                audio_only=m.audio_only,
                devices=m.reported.devices if m.reported is not None else None,
            )
            for m in list(room.members.values())
            if m.role is Role.CLASSROOM and not m.hidden and m.classroom_id is not None
        ]
    # Another hub node holds the lesson: its latest snapshot (at most a few seconds old).
    snapshot: dict[str, Any] = await svc.lessons.live.snapshot(lesson_id) or {}
    members = []
    for p in snapshot.get("participants", []):
        if p.get("role") != Role.CLASSROOM.value or p.get("classroom_id") is None:
            continue
        devices = p.get("devices")
        members.append(
            Member(
                participant=str(p["id"]),
                classroom_id=int(p["classroom_id"]),
                name=str(p.get("name", "")),
                connected=True,
                audio_only=bool(p.get("audio_only")),
                devices=DeviceHealth(**devices) if devices else None,
            )
        )
    return members


@router.get("/{lesson_id}/roster")
async def roster(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> Roster:
    """Every invited classroom and its state (offline, waiting, joining, in the lesson, audio
    only, dropped or left, with when), its devices' problems, and how many are ready."""
    await lesson_access(svc, who, lesson_id, Use.VIEW)
    sources = await roster_sources(svc.catalog, lesson_id)
    return build_roster(
        lesson_id=lesson_id,
        status=sources.lesson.status,
        invited=sources.invited,
        members=await _members(svc, lesson_id) if sources.lesson.status == "live" else [],
        last_seen=sources.last_seen,
        stays=sources.stays,
        presence=svc.presence,
        now=datetime.now(UTC),
        online_within_s=svc.settings.presence_timeout_s,
    )


@router.get("/{lesson_id}/followup")
async def followup(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> FollowupOut:
    """For the page of a lesson that ended: the lecturer's next lesson, and where the
    recording will appear."""
    await lesson_access(svc, who, lesson_id, Use.VIEW)
    lesson = await svc.catalog.get_lesson(lesson_id)
    upcoming = await next_lesson_of(svc.catalog, lesson)
    recordings = await recordings_of(svc.catalog, lesson_id)
    return FollowupOut(
        status=lesson.status,
        next_lesson=(
            NextLessonOut(
                title=upcoming.title,
                subject=upcoming.subject,
                scheduled_start=upcoming.scheduled_start,
            )
            if upcoming is not None
            else None
        ),
        recordings=[
            RecordingPlaceOut(id=r.id, state=r.state, library_url=f"/library#recording={r.id}")
            for r in recordings
        ],
        recording_enabled=svc.settings.recorder.enabled,
        library_url="/library",
    )
