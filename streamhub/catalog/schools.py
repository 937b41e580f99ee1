"""Schools."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from streamhub.catalog.base import CatalogBase, Page
from streamhub.catalog.models import School


class SchoolStore(CatalogBase):
    async def create_school(self, name: str, region: str = "") -> School:
        school = School(name=name, region=region)
        async with self.session() as session, session.begin():
            session.add(school)
        return school

    async def get_school(self, school_id: int) -> School:
        return await self._get(School, school_id)

    async def list_schools(self, limit: int, offset: int) -> Page[School]:
        return await self._page(select(School).order_by(School.id), limit, offset)

    async def update_school(self, school_id: int, changes: dict[str, Any]) -> School:
        return await self._update(School, school_id, changes)

    async def delete_school(self, school_id: int) -> None:
        await self._delete(School, school_id)
