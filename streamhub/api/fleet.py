"""The fleet board (admins): every classroom PC — online or when last heard from, its agent and
system, its devices, its latest connection check, its next lesson — and what is wrong with it,
so that on Sunday evening an admin sees which classrooms will fail on Monday morning."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter

from streamhub.api.access import own_school
from streamhub.api.auth import Admins, CallerDep, ServicesDep
from streamhub.api.schemas import (
    FleetCheckOut,
    FleetLessonOut,
    FleetOut,
    FleetRowOut,
    OptionalIdQuery,
)
from streamhub.catalog.fleet import fleet_sources
from streamhub.errors import Forbidden
from streamhub.protocol import DeviceHealth

router = APIRouter(prefix="/api/fleet", tags=["fleet"], dependencies=[Admins])

DEVICES = ("camera", "microphone", "speaker", "display")
Problem = Literal["any", "offline", "devices", "check", "not_enrolled"]


@router.get("")
async def fleet(
    svc: ServicesDep,
    who: CallerDep,
    school_id: OptionalIdQuery = None,
    problem: Problem | None = None,
) -> FleetOut:
    """Every classroom (of one school with ``school_id``; a school admin: of their own), its PC
    and its problems; ``problem`` keeps the classrooms with that kind of problem (``any``: with
    at least one)."""
    if not who.county:
        if school_id is not None and school_id != who.school:
            raise Forbidden("a school admin sees their own school's classrooms only")
        school_id = own_school(who)
    sources = await fleet_sources(svc.catalog, school_id)
    now = datetime.now(UTC)
    online_within = svc.settings.presence_timeout_s
    rows = []
    for room in sources.classrooms:
        credential = sources.credentials.get(room.id)
        check = sources.checks.get(room.id)
        lesson = sources.next_lessons.get(room.id)
        seen = credential.last_used_at if credential else None
        online = seen is not None and (now - seen).total_seconds() <= online_within
        devices = _devices(credential.devices) if credential else None
        problems = []
        if credential is None:
            problems.append("not_enrolled")
        elif not online:
            problems.append("offline")
        if devices is not None:
            missing = [name for name in DEVICES if getattr(devices, name) == "missing"]
            problems += [f"{name}_missing" for name in missing]
        if check is not None and not check.ok:
            problems.append("check_failed")
        rows.append(
            FleetRowOut(
                classroom_id=room.id,
                classroom=room.name,
                school_id=room.school_id,
                school=room.school.name,
                online=online,
                last_seen_at=seen,
                agent=credential.agent if credential else "",
                devices=devices,
                devices_at=credential.devices_at if credential else None,
                check=(
                    FleetCheckOut(ok=check.ok, summary=check.summary, checked_at=check.checked_at)
                    if check
                    else None
                ),
                next_lesson=(
                    FleetLessonOut(
                        id=lesson.id,
                        title=lesson.title,
                        status=lesson.status,
                        scheduled_start=lesson.scheduled_start,
                    )
                    if lesson
                    else None
                ),
                problems=problems,
            )
        )
    if problem is not None:
        rows = [row for row in rows if _has(row.problems, problem)]
    return FleetOut(online_within_s=online_within, classrooms=rows)


def _devices(stored: str) -> DeviceHealth | None:
    """The devices as the PC reported them; nothing for a PC that never did (or a row
    written by something else)."""
    if not stored:
        return None
    try:
        return DeviceHealth.model_validate(json.loads(stored))
    except ValueError:
        return None


def _has(problems: list[str], wanted: str) -> bool:
    if wanted == "any":
        return bool(problems)
    if wanted == "devices":
        return any(p.endswith("_missing") for p in problems)
    if wanted == "check":
        return "check_failed" in problems
    return wanted in problems
