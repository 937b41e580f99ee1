"""Schools and their classrooms, and the device credentials of classroom PCs: the county
manages them all, a school admin their own school's (docs/roles.md)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from streamhub.api.access import classroom_access, own_school, school_access
from streamhub.api.auth import AdminOnly, Admins, AdminsOrStaff, CallerDep, ServicesDep
from streamhub.api.schemas import (
    ClassroomIn,
    ClassroomOut,
    ClassroomPatch,
    CredentialIn,
    CredentialOut,
    IdPath,
    IssuedCredentialOut,
    OffsetQuery,
    OptionalIdQuery,
    PageOut,
    SchoolIn,
    SchoolOut,
    SchoolPatch,
)
from streamhub.catalog.models import Classroom
from streamhub.errors import Forbidden

router = APIRouter(prefix="/api", tags=["schools"])
Limit = Query(50, ge=1, le=500)


def classroom_out(room: Classroom) -> ClassroomOut:
    return ClassroomOut(
        id=room.id,
        name=room.name,
        school_id=room.school_id,
        school_name=room.school.name,
        region=room.region,
        created_at=room.created_at,
    )


async def _close_classroom_sessions(svc: ServicesDep, classroom_id: int) -> None:
    for credential in await svc.catalog.list_credentials(classroom_id):
        await svc.lessons.revoke_everywhere(credential.id)


@router.post("/schools", status_code=201, dependencies=[AdminOnly])
async def create_school(body: SchoolIn, svc: ServicesDep) -> SchoolOut:
    school = await svc.catalog.create_school(body.name, body.region)
    if not body.downloads_allowed:
        school = await svc.catalog.update_school(school.id, {"downloads_allowed": False})
    return SchoolOut.model_validate(school)


@router.get("/schools", dependencies=[AdminsOrStaff])
async def list_schools(
    svc: ServicesDep, who: CallerDep, limit: int = Limit, offset: OffsetQuery = 0
) -> PageOut[SchoolOut]:
    """Every school (a school admin: their own)."""
    if not who.reads_everything:
        own = [await svc.catalog.get_school(who.school)] if who.school is not None else []
        items = [SchoolOut.model_validate(s) for s in own[offset : offset + limit]]
        return PageOut(items=items, total=len(own), limit=limit, offset=offset)
    page = await svc.catalog.list_schools(limit, offset)
    items = [SchoolOut.model_validate(s) for s in page.items]
    return PageOut(items=items, total=page.total, limit=limit, offset=offset)


@router.get("/schools/{school_id}", dependencies=[AdminsOrStaff])
async def get_school(school_id: IdPath, svc: ServicesDep, who: CallerDep) -> SchoolOut:
    school_access(who, school_id)
    return SchoolOut.model_validate(await svc.catalog.get_school(school_id))


@router.patch("/schools/{school_id}", dependencies=[AdminOnly])
async def update_school(school_id: IdPath, body: SchoolPatch, svc: ServicesDep) -> SchoolOut:
    changes = body.model_dump(exclude_none=True)
    return SchoolOut.model_validate(await svc.catalog.update_school(school_id, changes))


@router.delete("/schools/{school_id}", status_code=204, dependencies=[AdminOnly])
async def delete_school(school_id: IdPath, svc: ServicesDep) -> Response:
    """Delete a school with its classrooms; their PCs' live sessions are closed now."""
    await svc.catalog.get_school(school_id)
    page = await svc.catalog.list_classrooms(10_000, 0, school_id)
    for room in page.items:
        await _close_classroom_sessions(svc, room.id)
    await svc.catalog.delete_school(school_id)
    return Response(status_code=204)


def _own_school(who: CallerDep, school_id: int | None) -> None:
    """A school admin puts classrooms in their own school only."""
    if school_id is not None and not who.county and school_id != who.school:
        raise Forbidden("a school admin manages their own school's classrooms only")


@router.post("/classrooms", status_code=201, dependencies=[Admins])
async def create_classroom(body: ClassroomIn, svc: ServicesDep, who: CallerDep) -> ClassroomOut:
    _own_school(who, body.school_id)
    room = await svc.catalog.create_classroom(body.school_id, body.name, body.region)
    return classroom_out(room)


@router.get("/classrooms", dependencies=[AdminsOrStaff])
async def list_classrooms(
    svc: ServicesDep,
    who: CallerDep,
    school_id: OptionalIdQuery = None,
    limit: int = Limit,
    offset: OffsetQuery = 0,
) -> PageOut[ClassroomOut]:
    """Classrooms (of one school with ``school_id``; a school admin: of their own)."""
    if not who.reads_everything:
        _own_school(who, school_id)
        school_id = own_school(who)
    page = await svc.catalog.list_classrooms(limit, offset, school_id)
    items = [classroom_out(c) for c in page.items]
    return PageOut(items=items, total=page.total, limit=limit, offset=offset)


@router.get("/classrooms/{classroom_id}", dependencies=[AdminsOrStaff])
async def get_classroom(classroom_id: IdPath, svc: ServicesDep, who: CallerDep) -> ClassroomOut:
    await classroom_access(svc, who, classroom_id, read=True)
    return classroom_out(await svc.catalog.get_classroom(classroom_id))


@router.patch("/classrooms/{classroom_id}", dependencies=[Admins])
async def update_classroom(
    classroom_id: IdPath, body: ClassroomPatch, svc: ServicesDep, who: CallerDep
) -> ClassroomOut:
    await classroom_access(svc, who, classroom_id, read=False)
    _own_school(who, body.school_id)
    changes = body.model_dump(exclude_none=True)
    return classroom_out(await svc.catalog.update_classroom(classroom_id, changes))


@router.delete("/classrooms/{classroom_id}", status_code=204, dependencies=[Admins])
async def delete_classroom(classroom_id: IdPath, svc: ServicesDep, who: CallerDep) -> Response:
    await classroom_access(svc, who, classroom_id, read=False)
    await _close_classroom_sessions(svc, classroom_id)
    await svc.catalog.delete_classroom(classroom_id)
    return Response(status_code=204)


@router.post("/classrooms/{classroom_id}/device-credential", status_code=201, dependencies=[Admins])
async def issue_device_credential(
    classroom_id: IdPath, svc: ServicesDep, who: CallerDep, body: CredentialIn | None = None
) -> IssuedCredentialOut:
    """Issue a classroom PC's credential. It is shown once; the hub stores only its hash."""
    await classroom_access(svc, who, classroom_id, read=False)
    issued = await svc.catalog.issue_credential(classroom_id, body.label if body else "")
    hub = svc.settings.effective_public_url
    return IssuedCredentialOut(
        credential_id=issued.id,
        classroom_id=classroom_id,
        credential=issued.secret,
        agent_command=(
            f"classroom-agent enroll --hub {hub} --credential {issued.secret}"
            " && classroom-agent run"
        ),
        classroom_page=f"{hub}/classroom/next#credential={issued.secret}",
    )


@router.get("/classrooms/{classroom_id}/device-credentials", dependencies=[Admins])
async def list_device_credentials(
    classroom_id: IdPath, svc: ServicesDep, who: CallerDep
) -> list[CredentialOut]:
    await classroom_access(svc, who, classroom_id, read=False)
    rows = await svc.catalog.list_credentials(classroom_id)
    return [CredentialOut.model_validate(r) for r in rows]


@router.delete("/device-credentials/{credential_id}", dependencies=[Admins])
async def revoke_device_credential(
    credential_id: IdPath, svc: ServicesDep, who: CallerDep
) -> CredentialOut:
    """Revoke a credential: its next request fails and its live sessions are closed now."""
    if not who.county:
        credential = await svc.catalog.get_credential(credential_id)
        await classroom_access(svc, who, credential.classroom_id, read=False)
    row = await svc.catalog.revoke_credential(credential_id)
    await svc.lessons.revoke_everywhere(credential_id)
    return CredentialOut.model_validate(row)
