"""Lessons: the timetable (admin), going live and ending (admin or the lesson's lecturer),
who is in a live lesson and who attended an ended one, and the links that open it."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi import Path as FastApiPath

from streamhub.api.access import (
    Use,
    lesson_access,
    lesson_allows,
    listing_scope,
    own_classrooms,
    own_school,
)
from streamhub.api.auth import AdminOnly, Admins, Caller, CallerDep, People, ServicesDep, require
from streamhub.api.schemas import (
    AttendanceOut,
    ClassroomAttendanceOut,
    ClassroomEventOut,
    IdPath,
    LessonAnswersOut,
    LessonIn,
    LessonOut,
    LessonPatch,
    LessonRecordingOut,
    LinkOut,
    MarkOut,
    OccurrenceOut,
    OffsetQuery,
    OptionalIdQuery,
    PageOut,
    ParticipantOut,
    QuestionOut,
    RoomAnswerOut,
    SeriesIn,
    SeriesOut,
    TokenOut,
)
from streamhub.auth.roles import AccountRole
from streamhub.catalog.models import Lesson, utcnow
from streamhub.catalog.register import lesson_register
from streamhub.csv_export import csv_text
from streamhub.errors import BadRequest, ErrorCode, Forbidden, NotFound
from streamhub.lesson.answers_record import (
    CSV_FIELDS,
    ClassroomCounts,
    classroom_counts,
    csv_rows,
    lesson_record,
)
from streamhub.lesson.attendance import merge_overlaps
from streamhub.lesson.recurrence import RecurrenceError, expand
from streamhub.protocol import Role
from streamhub.services import Services

router = APIRouter(prefix="/api", tags=["lessons"])
# "missed": scheduled lessons whose end has passed; "scheduled" then lists the others.
Status = Query(None, pattern="^(scheduled|missed|live|ended)$")


def lesson_out(lesson: Lesson) -> LessonOut:
    return LessonOut(
        id=lesson.id,
        title=lesson.title,
        subject=lesson.subject,
        subject_id=lesson.subject_id,
        grade_id=lesson.grade_id,
        description=lesson.description,
        lecturer_name=lesson.lecturer_name,
        scheduled_start=lesson.scheduled_start,
        scheduled_end=lesson.scheduled_end,
        status=lesson.status,
        missed=lesson.status == "scheduled" and lesson.scheduled_end < utcnow(),
        series=lesson.series,
        join_code=lesson.join_code,
        classroom_ids=sorted(c.id for c in lesson.classrooms),
        open_to_all=lesson.open_to_all,
        school_id=lesson.school_id,
        lecturer_account_id=lesson.lecturer_account_id,
        started_at=lesson.started_at,
        ended_at=lesson.ended_at,
    )


# Lecturer links: the county, school admins and lecturers' accounts (for their own lessons).
LinkMakers = require(accounts=[AccountRole.SCHOOL_ADMIN, AccountRole.LECTURER])


async def _owners(svc: Services, who: Caller, school_id: int | None, lecturer: int | None) -> None:
    """The school and lecturer a lesson is given exist; a school admin gives only their own
    school."""
    if not who.county and school_id != own_school(who):
        raise Forbidden("a school admin schedules their own school's lessons only")
    if school_id is not None:
        await svc.catalog.get_school(school_id)
    if lecturer is not None:
        account = await svc.catalog.get_account(lecturer)
        if account.role != AccountRole.LECTURER.value:
            raise BadRequest(
                f"account {lecturer} is not a lecturer", code=ErrorCode.VALIDATION_FAILED
            )


async def picked(
    svc: Services,
    subject: str | None,
    subject_id: int | None,
    grade_id: int | None,
) -> dict[str, Any]:
    """The subject and grade a lesson is given, checked against the county's lists (by id, or
    the subject by name; none retired): the lesson's columns to set. ``subject=""`` with no id
    takes the subject away; ``None`` leaves it."""
    out: dict[str, Any] = {}
    if subject_id is not None or subject:
        row = await svc.catalog.pick_vocabulary("subject", ident=subject_id, name=subject)
        out.update(subject=row.name, subject_id=row.id)
    elif subject == "":
        out.update(subject="", subject_id=None)
    if grade_id is not None:
        out["grade_id"] = (await svc.catalog.pick_vocabulary("grade", ident=grade_id)).id
    return out


@router.post("/lessons", status_code=201, dependencies=[Admins])
async def create_lesson(body: LessonIn, svc: ServicesDep, who: CallerDep) -> LessonOut:
    """Schedule a lesson. A school admin's lessons are their school's (``school_id`` may be
    left out), and invite their school's classrooms only."""
    if not who.county and body.school_id is None:
        body = body.model_copy(update={"school_id": own_school(who)})
    await _owners(svc, who, body.school_id, body.lecturer_account_id)
    await own_classrooms(svc, who, body.classroom_ids)
    fields = body.model_dump() | await picked(svc, body.subject, body.subject_id, body.grade_id)
    lesson = await svc.catalog.create_lesson(**fields)
    return lesson_out(lesson)


@router.post("/lessons/series", status_code=201, dependencies=[AdminOnly])
async def create_series(body: SeriesIn, svc: ServicesDep, response: Response) -> SeriesOut:
    """A term's timetable in one request: a lesson per occurrence of the rule, at the same wall
    time in the county's time zone (``county_timezone``), skipping the holidays. Each lesson is
    then moved (PATCH) or cancelled (DELETE) on its own. ``dry_run``: the occurrences only."""
    zone = svc.settings.county_zone
    try:
        found = expand(
            body.rule,
            body.first_start,
            timedelta(minutes=body.duration_minutes),
            zone,
            frozenset(body.skip_dates),
        )
    except RecurrenceError as exc:
        raise BadRequest(str(exc), code=ErrorCode.INVALID_MESSAGE) from None
    occurrences = [OccurrenceOut(scheduled_start=o.start, scheduled_end=o.end) for o in found]
    chosen = await picked(svc, body.subject, body.subject_id, body.grade_id)
    if body.dry_run:
        response.status_code = 200
        return SeriesOut(series=None, timezone=str(zone), occurrences=occurrences, lessons=[])
    series, lessons = await svc.catalog.create_series(
        title=body.title,
        subject=chosen.get("subject", ""),
        subject_id=chosen.get("subject_id"),
        grade_id=chosen.get("grade_id"),
        description=body.description,
        lecturer_name=body.lecturer_name,
        times=[(o.start, o.end) for o in found],
        classroom_ids=body.classroom_ids,
        open_to_all=body.open_to_all,
    )
    return SeriesOut(
        series=series,
        timezone=str(zone),
        occurrences=occurrences,
        lessons=[lesson_out(x) for x in lessons],
    )


@router.delete("/lessons/series/{series}", dependencies=[AdminOnly])
async def delete_series(
    series: Annotated[str, FastApiPath(pattern="^[0-9a-f]{16}$")], svc: ServicesDep
) -> dict[str, int]:
    """Cancel what is left of a series: its scheduled lessons (live and ended ones stay)."""
    deleted = await svc.catalog.delete_series(series)
    if not deleted and not (await svc.catalog.list_lessons(1, 0, series=series)).total:
        raise NotFound("no lesson series with this id")
    return {"deleted": deleted}


@router.get("/lessons", dependencies=[People])
async def list_lessons(
    svc: ServicesDep,
    who: CallerDep,
    status: str | None = Status,
    classroom_id: OptionalIdQuery = None,
    series: str | None = Query(None, pattern="^[0-9a-f]{16}$"),
    limit: int = Query(50, ge=1, le=500),
    offset: OffsetQuery = 0,
) -> PageOut[LessonOut]:
    """Lessons (a school admin: their school's; a lecturer's account: their own)."""
    school_id, lecturer_id = listing_scope(who)
    page = await svc.catalog.list_lessons(
        limit,
        offset,
        status,
        classroom_id,
        series,
        school_id=school_id,
        lecturer_account_id=lecturer_id,
    )
    items = [lesson_out(x) for x in page.items]
    return PageOut(items=items, total=page.total, limit=limit, offset=offset)


@router.get("/lessons/by-code/{code}")
async def lesson_by_code(code: str, svc: ServicesDep, who: CallerDep) -> LessonOut:
    """The lesson behind a join code, for the pages that open it."""
    lesson = await svc.catalog.lesson_by_code(code[:16])
    allowed = lesson_allows(who, lesson, Use.VIEW) or (
        who.grant is not None and who.grant.lesson == lesson.id
    )
    if not allowed:
        raise Forbidden("this token is for another lesson", code=ErrorCode.WRONG_LESSON)
    return lesson_out(lesson)


@router.get("/lessons/{lesson_id}")
async def get_lesson(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> LessonOut:
    lesson = await lesson_access(svc, who, lesson_id, Use.VIEW)
    return lesson_out(lesson or await svc.catalog.get_lesson(lesson_id))


@router.patch("/lessons/{lesson_id}", dependencies=[Admins])
async def update_lesson(
    lesson_id: IdPath, body: LessonPatch, svc: ServicesDep, who: CallerDep
) -> LessonOut:
    """Change a lesson. A school admin: of their school, which it stays; the classrooms they
    add are their school's."""
    before = await lesson_access(svc, who, lesson_id, Use.EDIT)
    changes = body.model_dump(exclude_none=True)
    changes |= await picked(svc, body.subject, body.subject_id, body.grade_id)
    if before is not None:
        school = changes.get("school_id", before.school_id)
        await _owners(svc, who, school, changes.get("lecturer_account_id"))
        if body.classroom_ids is not None:
            added = set(body.classroom_ids) - {c.id for c in before.classrooms}
            await own_classrooms(svc, who, added)
    else:
        await _owners(svc, who, body.school_id, body.lecturer_account_id)
    lesson = await svc.catalog.update_lesson(lesson_id, changes)
    info = svc.catalog.info(lesson)
    if info.status == "live":
        # A live lesson's invitations take effect at once, on the node that holds it.
        await svc.lessons.update_lesson(info)
    return lesson_out(lesson)


@router.delete("/lessons/{lesson_id}", status_code=204, dependencies=[Admins])
async def delete_lesson(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> Response:
    await lesson_access(svc, who, lesson_id, Use.EDIT)
    await svc.catalog.delete_lesson(lesson_id)
    return Response(status_code=204)


@router.post("/lessons/{lesson_id}/start")
async def start_lesson(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> LessonOut:
    """Go live: classrooms may join from now on."""
    await lesson_access(svc, who, lesson_id, Use.RUN)
    lesson = await svc.catalog.set_lesson_status(lesson_id, "live")
    await svc.lessons.go_live(svc.catalog.info(lesson))
    return lesson_out(lesson)


@router.post("/lessons/{lesson_id}/end")
async def end_lesson(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> LessonOut:
    """End the lesson: every connection is closed and the recording is finalized."""
    await lesson_access(svc, who, lesson_id, Use.RUN)
    lesson = await svc.catalog.set_lesson_status(lesson_id, "ended")
    await svc.lessons.finish(lesson_id)
    await svc.catalog.close_open_attendance(lesson_id)
    return lesson_out(lesson)


@router.get("/lessons/{lesson_id}/participants")
async def participants(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> list[ParticipantOut]:
    """Who is in the live lesson now, with each one's latest media stats."""
    await lesson_access(svc, who, lesson_id, Use.VIEW)
    await svc.catalog.get_lesson(lesson_id)
    if lesson_id not in svc.lessons.rooms:
        # Another hub node holds this lesson: its latest snapshot (at most a few s old).
        snapshot = await svc.lessons.live.snapshot(lesson_id) or {}
        return [ParticipantOut(**p) for p in snapshot.get("participants", [])]
    stats = {s.participant: s for s in svc.lessons.stats(lesson_id)}
    return [
        ParticipantOut(**p.model_dump(), stats=stats.get(p.id))
        for p in svc.lessons.participants(lesson_id)
    ]


@router.get("/lessons/{lesson_id}/attendance")
async def attendance(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> list[AttendanceOut]:
    """Who joined, when, for how long, and their average network quality (0..1)."""
    await lesson_access(svc, who, lesson_id, Use.VIEW)
    rows = await svc.catalog.attendance(lesson_id)
    # One entry per stretch of presence: overlapping sessions of one classroom count once.
    stretches = merge_overlaps(
        r for r in rows if r.role in (Role.LECTURER.value, Role.CLASSROOM.value)
    )
    return [
        AttendanceOut(
            participant_id=s.participant_id,
            role=s.role,
            name=s.name,
            classroom_id=s.classroom_id,
            joined_at=s.joined_at,
            left_at=s.left_at,
            duration_s=s.duration_s,
            quality=s.quality,
        )
        for s in stretches
    ]


@router.get("/lessons/{lesson_id}/attendance/classrooms", response_model=None)
async def classroom_register(
    lesson_id: IdPath,
    svc: ServicesDep,
    who: CallerDep,
    format: Literal["json", "csv"] = "json",
) -> list[ClassroomAttendanceOut] | Response:
    """The lesson's register: one line per invited classroom (then any other that came to an
    open lesson): present, late, left early or absent, minutes present merged across
    reconnects and hub restarts, drops, and network quality. ``?format=csv`` for a
    spreadsheet."""
    await lesson_access(svc, who, lesson_id, Use.VIEW)
    settings = svc.settings
    lines = await lesson_register(
        svc.catalog, lesson_id, settings.attendance_late_after_s, settings.attendance_left_early_s
    )
    said = classroom_counts(lesson_record(await svc.catalog.lesson_events(lesson_id)))
    out = [
        ClassroomAttendanceOut(
            **asdict(line.presence),
            school=line.school,
            **asdict(said.get(line.presence.classroom_id, ClassroomCounts())),
        )
        for line in lines
    ]
    if format == "json":
        return out
    return Response(
        register_csv(out),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="lesson-{lesson_id}-attendance.csv"'
        },
    )


def register_csv(lines: list[ClassroomAttendanceOut]) -> str:
    """The register as CSV with a BOM, so spreadsheet programs read its Chinese names right."""
    fields = list(ClassroomAttendanceOut.model_fields)
    return csv_text(fields, ([getattr(line, f) for f in fields] for line in lines))


@router.get("/lessons/{lesson_id}/answers", response_model=None)
async def lesson_answers(
    lesson_id: IdPath,
    svc: ServicesDep,
    who: CallerDep,
    format: Literal["json", "csv"] = "json",
) -> LessonAnswersOut | Response:
    """What the classrooms said back: the lecturer's questions with each classroom's answer
    and its time, the totals, quick replies, raised hands, and the lecturer's marks.
    ``?format=csv``: one row per question, answer, reply, hand and mark, in time order."""
    await lesson_access(svc, who, lesson_id, Use.VIEW)
    await svc.catalog.get_lesson(lesson_id)
    record = lesson_record(await svc.catalog.lesson_events(lesson_id))
    if format == "csv":
        rows = ([row[f] for f in CSV_FIELDS] for row in csv_rows(record))
        return Response(
            csv_text(CSV_FIELDS, rows),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="lesson-{lesson_id}-answers.csv"'
            },
        )
    return LessonAnswersOut(
        lesson_id=lesson_id,
        questions=[
            QuestionOut(
                **{k: v for k, v in asdict(q).items() if k != "answers"},
                answers=[RoomAnswerOut(**a) for a in q.answers],
            )
            for q in record.questions
        ],
        quick_replies=[ClassroomEventOut(**r) for r in record.quick_replies],
        hands=[ClassroomEventOut(**h) for h in record.hands],
        marks=[MarkOut(**m) for m in record.marks],
    )


@router.get("/lessons/{lesson_id}/recordings")
async def lesson_recordings(
    lesson_id: IdPath, svc: ServicesDep, who: CallerDep
) -> list[LessonRecordingOut]:
    """Where the lesson's recordings are (several if a hub restarted mid-lesson): each one's
    state and its page in the staff library. The lecturer page shows this once the lesson
    ends; the recordings themselves are for staff."""
    await lesson_access(svc, who, lesson_id, Use.VIEW)
    await svc.catalog.get_lesson(lesson_id)
    return [
        LessonRecordingOut(id=r.id, state=r.state, page=recording_page(svc, r.id))
        for r in await svc.catalog.lesson_recordings(lesson_id)
    ]


def recording_page(svc: Services, recording_id: int) -> str:
    """The recording's page in the library (it asks for a staff token or the admin key)."""
    return f"{svc.settings.effective_public_url}/library#recording={recording_id}"


@router.post("/lessons/{lesson_id}/lecturer-link", dependencies=[LinkMakers])
async def lecturer_link(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> LinkOut:
    """A link for the lecturer: it opens the console and carries the lecturer's token.
    Each link is listed under `/api/tokens` and can be revoked there. A lecturer's account
    makes its own, for its own lessons."""
    await lesson_access(svc, who, lesson_id, Use.RUN)
    return await lecturer_link_for(svc, await svc.catalog.get_lesson(lesson_id))


async def lecturer_link_for(svc: Services, lesson: Lesson) -> LinkOut:
    """The lecturer's link to a lesson (the admin API and `serve --demo` both hand it out)."""
    ttl = svc.settings.auth.lecturer_link_ttl_s
    row = await svc.catalog.issue_token_row(
        "lecturer_link", ttl, lesson_id=lesson.id, label=lesson.lecturer_name
    )
    token = svc.tokens.issue(
        sub=f"lecturer-{lesson.id}",
        role=Role.LECTURER,
        lesson=lesson.id,
        name=lesson.lecturer_name or "Lecturer",
        can_publish=True,
        can_subscribe=True,
        lesson_key=lesson.row_key,
        token_id=row.id,
        jti=row.jti,
        ttl_s=ttl,
    )
    # The token rides in the fragment, which browsers never send to a server or log.
    url = f"{svc.settings.effective_public_url}/lesson/{lesson.join_code}#token={token}"
    return LinkOut(token=token, url=url, expires_in_s=ttl, token_id=row.id)


@router.post("/lessons/{lesson_id}/recorder-token", dependencies=[Admins])
async def recorder_token(lesson_id: IdPath, svc: ServicesDep, who: CallerDep) -> TokenOut:
    """A token for a separate `recorder` process: a hidden subscriber of this lesson."""
    await lesson_access(svc, who, lesson_id, Use.EDIT)
    lesson = await svc.catalog.get_lesson(lesson_id)
    ttl = svc.settings.auth.access_token_ttl_s
    token = svc.tokens.issue(
        sub=f"recorder-{lesson_id}-{secrets.token_hex(6)}",  # every recorder its own identity
        role=Role.RECORDER,
        lesson=lesson_id,
        name="Recorder",
        can_subscribe=True,
        hidden=True,
        lesson_key=lesson.row_key,
        ttl_s=ttl,
    )
    return TokenOut(token=token, expires_in_s=ttl)
