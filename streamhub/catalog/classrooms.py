"""Classrooms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from streamhub.catalog.base import CatalogBase, Page
from streamhub.catalog.models import Classroom, School


class ClassroomStore(CatalogBase):
    async def create_classroom(self, school_id: int, name: str, region: str) -> Classroom:
        await self._get(School, school_id)
        async with self.session() as session, session.begin():
            room = Classroom(school_id=school_id, name=name, region=region)
            session.add(room)
        return await self.get_classroom(room.id)

    async def get_classroom(self, classroom_id: int) -> Classroom:
        return await self._get(Classroom, classroom_id)

    async def list_classrooms(
        self, limit: int, offset: int, school_id: int | None = None
    ) -> Page[Classroom]:
        query = select(Classroom).order_by(Classroom.id)
        if school_id is not None:
            query = query.where(Classroom.school_id == school_id)
        return await self._page(query, limit, offset)

    async def update_classroom(self, classroom_id: int, changes: dict[str, Any]) -> Classroom:
        if "school_id" in changes:
            await self._get(School, changes["school_id"])
        await self._update(Classroom, classroom_id, changes)
        return await self.get_classroom(classroom_id)

    async def delete_classroom(self, classroom_id: int) -> None:
        await self._delete(Classroom, classroom_id)

    async def schools_of_classrooms(self, classroom_ids: Iterable[int]) -> dict[int, int]:
        """The school of each of these classrooms that exists (one query)."""
        wanted = list(set(classroom_ids))
        if not wanted:
            return {}
        async with self.session() as session:
            query = select(Classroom.id, Classroom.school_id).where(Classroom.id.in_(wanted))
            return {row.id: row.school_id for row in (await session.execute(query)).all()}
