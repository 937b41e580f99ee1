"""Knowledge capsules in the catalog: the shelf's queries (filters by subject, grade, knowledge
point, tag) and the choices its filters offer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from streamhub.catalog import search
from streamhub.catalog.base import CatalogBase, Page
from streamhub.catalog.models import Capsule, CapsuleTag
from streamhub.errors import NotFound


class CapsuleStore(CatalogBase):
    async def create_capsule(self, tags: list[str], **fields: Any) -> Capsule:
        async with self.session() as session, session.begin():
            row = Capsule(**fields)
            row.tags = [CapsuleTag(tag=t) for t in dict.fromkeys(tags)]
            session.add(row)
            if row.lesson_id is not None:
                # Its title, knowledge point and tags find its lesson's recording in the library.
                await session.flush()
                await self._reindex(session, [row.lesson_id])
        return await self.get_capsule(row.id)

    async def get_capsule(self, capsule_id: int) -> Capsule:
        return await self._get(Capsule, capsule_id)

    async def delete_capsule(self, capsule_id: int) -> Capsule:
        row = await self.get_capsule(capsule_id)
        async with self.session() as session, session.begin():
            found = await session.get(Capsule, capsule_id)
            if found is None:
                raise NotFound(f"no capsule with id {capsule_id}")
            await session.delete(found)
            if found.lesson_id is not None:
                await session.flush()
                await self._reindex(session, [found.lesson_id])
        return row

    @staticmethod
    def _scoped(query: Any, school_id: int | None, lecturer_account_id: int | None) -> Any:
        if school_id is not None:
            query = query.where(Capsule.school_id == school_id)
        if lecturer_account_id is not None:
            query = query.where(Capsule.lecturer_account_id == lecturer_account_id)
        return query

    async def list_capsules(
        self,
        limit: int,
        offset: int,
        *,
        subject: str | None = None,
        grade: str | None = None,
        subject_id: int | None = None,
        grade_id: int | None = None,
        knowledge_point: str | None = None,
        tag: str | None = None,
        q: str | None = None,
        recording_id: int | None = None,
        school_id: int | None = None,
        lecturer_account_id: int | None = None,
    ) -> Page[Capsule]:
        query = select(Capsule).order_by(Capsule.created_at.desc(), Capsule.id.desc())
        query = self._scoped(query, school_id, lecturer_account_id)
        if subject:
            query = query.where(Capsule.subject == subject)
        if grade:
            query = query.where(Capsule.grade == grade)
        if subject_id is not None:
            query = query.where(Capsule.subject_id == subject_id)
        if grade_id is not None:
            query = query.where(Capsule.grade_id == grade_id)
        if knowledge_point:
            query = query.where(Capsule.knowledge_point == knowledge_point)
        if tag:
            query = query.where(
                Capsule.id.in_(select(CapsuleTag.capsule_id).where(CapsuleTag.tag == tag))
            )
        if q:
            # The search's pattern: LIKE's wildcards in a query are plain characters.
            query = query.where(Capsule.title.ilike(search.like_pattern(q), escape="\\"))
        if recording_id is not None:
            query = query.where(Capsule.recording_id == recording_id)
        return await self._page(query, limit, offset)

    async def capsule_facets(
        self, school_id: int | None, lecturer_account_id: int | None
    ) -> dict[str, list[str]]:
        """Every subject, grade, knowledge point and tag on the caller's shelf (sorted)."""
        facets: dict[str, list[str]] = {}
        async with self.session() as session:
            for name, column in (
                ("subjects", Capsule.subject),
                ("grades", Capsule.grade),
                ("knowledge_points", Capsule.knowledge_point),
            ):
                query = self._scoped(select(column).distinct(), school_id, lecturer_account_id)
                values = (await session.scalars(query.where(column != ""))).all()
                facets[name] = sorted(values)
            scoped = self._scoped(select(Capsule.id), school_id, lecturer_account_id)
            tags = select(CapsuleTag.tag).distinct().where(CapsuleTag.capsule_id.in_(scoped))
            facets["tags"] = sorted((await session.scalars(tags)).all())
        return facets
