"""Subjects and grades (the county's lists lessons pick from): everyone signed in reads them,
the county adds, renames and retires them. None is ever deleted: a retired one stays on its
lessons and in the library's filters, and is offered for no new lesson."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from streamhub.api.auth import AdminOnly, People, ServicesDep
from streamhub.api.schemas import Body, IdPath, Name
from streamhub.catalog.vocabulary import Entry, Kind

router = APIRouter(prefix="/api", tags=["subjects and grades"])


class VocabularyIn(Body):
    name: Name


class VocabularyPatch(Body):
    name: Name | None = None
    retired: bool | None = None


class VocabularyOut(BaseModel):
    id: int
    name: str
    retired: bool
    retired_at: datetime | None
    created_at: datetime
    # How many lessons have it.
    lessons: int = 0


def vocabulary_out(row: Entry, used: dict[int, int] | None = None) -> VocabularyOut:
    return VocabularyOut(
        id=row.id,
        name=row.name,
        retired=row.retired_at is not None,
        retired_at=row.retired_at,
        created_at=row.created_at,
        lessons=(used or {}).get(row.id, 0),
    )


def _routes(kind: Kind, plural: str) -> None:
    async def listing(
        svc: ServicesDep, retired: bool = Query(True, description="include retired ones")
    ) -> list[VocabularyOut]:
        used = await svc.catalog.vocabulary_in_use(kind)
        rows = await svc.catalog.vocabulary(kind, retired=retired)
        return [vocabulary_out(r, used) for r in rows]

    async def create(body: VocabularyIn, svc: ServicesDep) -> VocabularyOut:
        return vocabulary_out(await svc.catalog.add_vocabulary(kind, body.name))

    async def change(item_id: IdPath, body: VocabularyPatch, svc: ServicesDep) -> VocabularyOut:
        row = await svc.catalog.change_vocabulary(
            kind, item_id, name=body.name, retired=body.retired
        )
        return vocabulary_out(row, await svc.catalog.vocabulary_in_use(kind))

    listing.__name__, create.__name__, change.__name__ = (
        f"list_{plural}",
        f"create_{kind}",
        f"change_{kind}",
    )
    listing.__doc__ = f"The county's {plural}, in the order they were added."
    create.__doc__ = f"Add a {kind} (the county). 409 ``name_taken`` when one has the name."
    change.__doc__ = (
        f"Rename a {kind} (its lessons follow) or retire it (``retired: true``) or bring it back."
    )
    router.add_api_route(f"/{plural}", listing, methods=["GET"], dependencies=[People])
    router.add_api_route(
        f"/{plural}", create, methods=["POST"], status_code=201, dependencies=[AdminOnly]
    )
    router.add_api_route(
        f"/{plural}/{{item_id}}", change, methods=["PATCH"], dependencies=[AdminOnly]
    )


_routes("subject", "subjects")
_routes("grade", "grades")
