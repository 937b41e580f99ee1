"""Schools and their classrooms (admin), and the device credentials of classroom PCs."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from streamhub.api.auth import AdminOnly, AdminOrStaff, ServicesDep
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
    return SchoolOut.model_validate(await svc.catalog.create_school(body.name, body.region))


@router.get("/schools", dependencies=[AdminOrStaff])
async def list_schools(
    svc: ServicesDep, limit: int = Limit, offset: OffsetQuery = 0
) -> PageOut[SchoolOut]:
    page = await svc.catalog.list_schools(limit, offset)
    items = [SchoolOut.model_validate(s) for s in page.items]
    return PageOut(items=items, total=page.total, limit=limit, offset=offset)


@router.get("/schools/{school_id}", dependencies=[AdminOrStaff])
async def get_school(school_id: IdPath, svc: ServicesDep) -> SchoolOut:
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


@router.post("/classrooms", status_code=201, dependencies=[AdminOnly])
async def create_classroom(body: ClassroomIn, svc: ServicesDep) -> ClassroomOut:
    room = await svc.catalog.create_classroom(body.school_id, body.name, body.region)
    return classroom_out(room)


@router.get("/classrooms", dependencies=[AdminOrStaff])
async def list_classrooms(
    svc: ServicesDep,
    school_id: OptionalIdQuery = None,
    limit: int = Limit,
    offset: OffsetQuery = 0,
) -> PageOut[ClassroomOut]:
    page = await svc.catalog.list_classrooms(limit, offset, school_id)
    items = [classroom_out(c) for c in page.items]
    return PageOut(items=items, total=page.total, limit=limit, offset=offset)


@router.get("/classrooms/{classroom_id}", dependencies=[AdminOrStaff])
async def get_classroom(classroom_id: IdPath, svc: ServicesDep) -> ClassroomOut:
    return classroom_out(await svc.catalog.get_classroom(classroom_id))


@router.patch("/classrooms/{classroom_id}", dependencies=[AdminOnly])
async def update_classroom(
    classroom_id: IdPath, body: ClassroomPatch, svc: ServicesDep
) -> ClassroomOut:
    changes = body.model_dump(exclude_none=True)
    return classroom_out(await svc.catalog.update_classroom(classroom_id, changes))


@router.delete("/classrooms/{classroom_id}", status_code=204, dependencies=[AdminOnly])
async def delete_classroom(classroom_id: IdPath, svc: ServicesDep) -> Response:
    await _close_classroom_sessions(svc, classroom_id)
    await svc.catalog.delete_classroom(classroom_id)
    return Response(status_code=204)


@router.post(
    "/classrooms/{classroom_id}/device-credential", status_code=201, dependencies=[AdminOnly]
)
async def issue_device_credential(
    classroom_id: IdPath, svc: ServicesDep, body: CredentialIn | None = None
) -> IssuedCredentialOut:
    """Issue a classroom PC's credential. It is shown once; the hub stores only its hash."""
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


@router.get("/classrooms/{classroom_id}/device-credentials", dependencies=[AdminOnly])
async def list_device_credentials(classroom_id: IdPath, svc: ServicesDep) -> list[CredentialOut]:
    rows = await svc.catalog.list_credentials(classroom_id)
    return [CredentialOut.model_validate(r) for r in rows]


@router.delete("/device-credentials/{credential_id}", dependencies=[AdminOnly])
async def revoke_device_credential(credential_id: IdPath, svc: ServicesDep) -> CredentialOut:
    """Revoke a credential: its next request fails and its live sessions are closed now."""
    row = await svc.catalog.revoke_credential(credential_id)
    await svc.lessons.revoke_everywhere(credential_id)
    return CredentialOut.model_validate(row)
