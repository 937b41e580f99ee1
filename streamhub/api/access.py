"""Which objects a caller may touch (docs/roles.md): the county everything; a school admin
their school's classrooms, PCs, lessons and accounts; a lecturer's account their own lessons
and those lessons' recordings; staff every lesson and recording, read-only; a lecturer link
its one lesson. Each check raises Forbidden (or NotFound for a row that is not there)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from streamhub.api.auth import Caller
from streamhub.auth.roles import SCHOOL_MANAGED, AccountRole
from streamhub.catalog.models import Account, Capsule, Classroom, Lesson, Recording
from streamhub.errors import Forbidden
from streamhub.protocol import Role
from streamhub.services import Services


class Use(IntEnum):
    """What a caller does with a lesson, each level including the ones before."""

    VIEW = 1  # read it, its attendance, roster, recordings
    RUN = 2  # start and end it, open its console (a lecturer link), read its RTMP key
    EDIT = 3  # change or delete it, make its recorder token and RTMP key


def own_school(who: Caller) -> int:
    """The school a school admin manages; Forbidden for one whose school was deleted."""
    if who.school is None:
        raise Forbidden("this account has no school to manage")
    return who.school


def _school_admin_of(who: Caller, school_id: int | None) -> bool:
    return who.school is not None and school_id == who.school


def lesson_allows(who: Caller, lesson: Lesson, use: Use) -> bool:
    if who.county:
        return True
    if who.lesson_token_for(lesson.id):
        return use <= Use.RUN
    if who.role is Role.STAFF:
        return use is Use.VIEW
    if _school_admin_of(who, lesson.school_id):
        return True
    if who.is_account(AccountRole.LECTURER) and who.account is not None:
        return lesson.lecturer_account_id == who.account.id and use <= Use.RUN
    return False


async def lesson_access(svc: Services, who: Caller, lesson_id: int, use: Use) -> Lesson | None:
    """Forbidden unless the caller may use the lesson so; the lesson, when it was read (a
    lecturer link and staff are decided without reading it)."""
    if who.county:
        return None
    if who.account is None or who.role is Role.STAFF:
        # Tokens, and staff accounts: decided by the grant alone.
        if who.lesson_token_for(lesson_id) and use <= Use.RUN:
            return None
        if who.role is Role.STAFF and use is Use.VIEW:
            return None
        raise Forbidden("this token cannot do this with this lesson")
    lesson = await svc.catalog.get_lesson(lesson_id)
    if not lesson_allows(who, lesson, use):
        raise Forbidden("this lesson is not yours")
    return lesson


async def classroom_access(svc: Services, who: Caller, classroom_id: int, *, read: bool) -> None:
    """The county; a school admin for their school's classrooms; staff to read."""
    if who.county or (read and who.role is Role.STAFF):
        return
    if who.school is None:
        raise Forbidden("this caller cannot manage classrooms")
    room: Classroom = await svc.catalog.get_classroom(classroom_id)
    if room.school_id != who.school:
        raise Forbidden("this classroom belongs to another school")


async def own_classrooms(svc: Services, who: Caller, classroom_ids: Iterable[int]) -> None:
    """A school admin invites only their own school's classrooms."""
    if who.county:
        return
    wanted = set(classroom_ids)
    schools = await svc.catalog.schools_of_classrooms(wanted)
    foreign = sorted(i for i in wanted if i in schools and schools[i] != who.school)
    if foreign:
        raise Forbidden(f"classroom {foreign[0]} belongs to another school")


def school_access(who: Caller, school_id: int) -> None:
    """Reading a school: the county, staff, and the school's own admin."""
    if who.county or who.role is Role.STAFF or school_id == who.school:
        return
    raise Forbidden("this school is not yours")


def recording_allows(who: Caller, rec: Recording) -> bool:
    """The county and staff every recording; school admins their school's lessons'; a
    lecturer's account their own lessons'."""
    if who.county or who.role is Role.STAFF:
        return True
    if who.account is None:
        return False
    return lesson_allows(who, rec.lesson, Use.VIEW)


def account_access(who: Caller, account: Account) -> None:
    """The county any account; a school admin their school's lecturers and staff."""
    if who.county:
        return
    if (
        who.school is not None
        and account.school_id == who.school
        and AccountRole(account.role) in SCHOOL_MANAGED
    ):
        return
    raise Forbidden("this account is not yours to manage")


def listing_scope(who: Caller) -> tuple[int | None, int | None]:
    """What a list of lessons or recordings is narrowed to: (school, lecturer account); none
    for the county and staff, a school admin's school, a lecturer account's own (0 for any
    other caller that gets this far: nothing)."""
    if who.reads_everything:
        return None, None
    if who.is_account(AccountRole.SCHOOL_ADMIN):
        return own_school(who), None
    return None, who.account.id if who.account is not None else 0


def _capsule_is_theirs(who: Caller, capsule: Capsule) -> bool:
    """A school admin's school's capsule; a lecturer's from their lessons, or one they cut."""
    if who.account is None:
        return False
    if who.school is not None:
        return capsule.school_id == who.school
    return who.account.id in (capsule.lecturer_account_id, capsule.created_by_account_id)


def capsule_allows(who: Caller, capsule: Capsule) -> bool:
    """Read a capsule as its recording: the county and staff every one, others their own."""
    return who.reads_everything or _capsule_is_theirs(who, capsule)


def capsule_manages(who: Caller, capsule: Capsule) -> bool:
    """Delete a capsule: the county every one, others their own (never staff)."""
    return who.county or _capsule_is_theirs(who, capsule)
