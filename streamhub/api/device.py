"""Routes for classroom PCs, authenticated by their device credential: the timetable of
their classroom, and the exchange of the credential for a lesson access token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from streamhub.api.auth import DeviceDep, ServicesDep
from streamhub.api.lessons import lesson_out
from streamhub.api.schemas import DeviceLessonsOut, DeviceTokenIn, DeviceTokenOut
from streamhub.catalog.models import NAME_MAX, Lesson, utcnow
from streamhub.errors import Conflict, ErrorCode, Forbidden, NotFound
from streamhub.protocol import DeviceHealth, DeviceState, Role

router = APIRouter(prefix="/api/device", tags=["classroom PCs"])


async def _upcoming(svc: ServicesDep, classroom_id: int) -> list[Lesson]:
    # A scheduled lesson stays listed for 12 h past its planned end: it may start late.
    return await svc.catalog.classroom_timetable(classroom_id, utcnow() - timedelta(hours=12))


DeviceQuery = Annotated[DeviceState | None, Query()]


@router.get("/lessons")
async def device_lessons(
    svc: ServicesDep,
    credential: DeviceDep,
    camera: DeviceQuery = None,
    microphone: DeviceQuery = None,
    speaker: DeviceQuery = None,
    display: DeviceQuery = None,
) -> DeviceLessonsOut:
    """This classroom's live and upcoming lessons, soonest first. Polling it is how the hub
    knows the PC is online; ``camera``, ``microphone``, ``speaker`` and ``display`` (each
    ``ok``, ``off`` or ``missing``) tell the lecturer's roster how its devices are."""
    reported = dict(camera=camera, microphone=microphone, speaker=speaker, display=display)
    known = {k: v for k, v in reported.items() if v is not None}
    devices = DeviceHealth(**known) if known else None
    svc.presence.seen(credential.classroom_id, devices)
    if devices is not None:
        await svc.catalog.report_devices(credential, devices.model_dump_json())
    room = await svc.catalog.get_classroom(credential.classroom_id)
    lessons = await _upcoming(svc, room.id)
    lessons.sort(key=lambda x: (x.status != "live", x.scheduled_start))
    return DeviceLessonsOut(
        classroom_id=room.id, classroom_name=room.name, lessons=[lesson_out(x) for x in lessons]
    )


@router.post("/token")
async def device_token(
    body: DeviceTokenIn, svc: ServicesDep, credential: DeviceDep
) -> DeviceTokenOut:
    """Exchange the credential for an access token to a live lesson: the one named by its
    join code, or (no code) this classroom's live lesson."""
    if body.devices is not None:
        svc.presence.seen(credential.classroom_id, body.devices)
        await svc.catalog.report_devices(credential, body.devices.model_dump_json())
    room = await svc.catalog.get_classroom(credential.classroom_id)
    if body.lesson_code is not None:
        lesson = await svc.catalog.lesson_by_code(body.lesson_code)
        if not svc.catalog.info(lesson).admits_classroom(room.id):
            raise Forbidden(
                "this classroom is not invited to the lesson", code=ErrorCode.NOT_INVITED
            )
    else:
        live = [x for x in await _upcoming(svc, room.id) if x.status == "live"]
        if not live:
            raise NotFound("this classroom has no live lesson now", code=ErrorCode.NO_LIVE_LESSON)
        lesson = live[0]
    if lesson.status != "live":
        raise Conflict(f"the lesson is {lesson.status}, not live", code=ErrorCode.LESSON_NOT_LIVE)
    ttl = svc.settings.auth.access_token_ttl_s
    svc.presence.joining(room.id, lesson.id)
    token = svc.tokens.issue(
        sub=f"classroom-{room.id}",
        role=Role.CLASSROOM,
        lesson=lesson.id,
        # Room names may be longer than a participant's name (a token's, an attendance row's).
        name=room.name[:NAME_MAX],
        can_publish=True,
        can_subscribe=True,
        classroom_id=room.id,
        credential_id=credential.id,
        lesson_key=lesson.row_key,
        classroom_key=room.row_key,
        ttl_s=ttl,
    )
    return DeviceTokenOut(
        token=token,
        lesson_id=lesson.id,
        lesson_code=lesson.join_code,
        lesson_title=lesson.title,
        expires_in_s=ttl,
    )
