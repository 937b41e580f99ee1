"""Subjects and grades: the county's lists lessons pick from. Added, renamed and retired (never
deleted: a lesson keeps its subject). A lesson's ``subject`` text follows its subject's name."""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import Capsule, Grade, Lesson, Subject, utcnow
from streamhub.errors import BadRequest, Conflict, ErrorCode, NotFound

Kind = Literal["subject", "grade"]
Entry = Subject | Grade
# Any: the two share their columns, which mypy cannot see through a union of classes.
MODELS: dict[Kind, Any] = {"subject": Subject, "grade": Grade}


def name_key(name: str) -> str:
    """How names compare: full-width forms folded (NFKC), case and spacing ignored. The
    timetable's ``normalize`` folds the same way, so a file's 数学 is the catalog's 数学."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


class VocabularyStore(CatalogBase):
    async def vocabulary(self, kind: Kind, *, retired: bool = True) -> list[Entry]:
        """The subjects or grades in the order they were added (retired ones too, unless not)."""
        model = MODELS[kind]
        query = select(model).order_by(model.id)
        if not retired:
            query = query.where(model.retired_at.is_(None))
        async with self.session() as session:
            return list((await session.scalars(query)).all())

    async def add_vocabulary(self, kind: Kind, name: str) -> Entry:
        model = MODELS[kind]
        try:
            async with self.session() as session, session.begin():
                row = model(name=name, name_key=name_key(name))
                session.add(row)
        except IntegrityError:
            raise Conflict(f"a {kind} named {name!r} exists", code=ErrorCode.NAME_TAKEN) from None
        return row  # type: ignore[no-any-return]

    async def change_vocabulary(
        self, kind: Kind, ident: int, *, name: str | None = None, retired: bool | None = None
    ) -> Entry:
        """Rename (a subject's lessons and a subject's or grade's capsules take the new name)
        or retire / bring back."""
        model = MODELS[kind]
        try:
            async with self.session() as session, session.begin():
                row: Any = await session.get(model, ident)
                if row is None:
                    raise NotFound(f"no {kind} with id {ident}")
                if name is not None and name != row.name:
                    row.name, row.name_key = name, name_key(name)
                    if kind == "subject":
                        await session.execute(
                            update(Lesson).where(Lesson.subject_id == ident).values(subject=name)
                        )
                        await session.execute(
                            update(Capsule)
                            .where(Capsule.subject_id == ident)
                            .values(subject=name[:120])
                        )
                    else:
                        await session.execute(
                            update(Capsule).where(Capsule.grade_id == ident).values(grade=name[:60])
                        )
                if retired is not None and retired != (row.retired_at is not None):
                    row.retired_at = utcnow() if retired else None
        except IntegrityError:
            raise Conflict(f"a {kind} named {name!r} exists", code=ErrorCode.NAME_TAKEN) from None
        return row  # type: ignore[no-any-return]

    async def pick_vocabulary(
        self, kind: Kind, *, ident: int | None = None, name: str | None = None
    ) -> Entry:
        """The subject or grade a new or changed lesson (or a new capsule) is given, by id or
        by name: it must exist and not be retired (400 ``unknown_subject`` / ``unknown_grade``
        otherwise)."""
        model = MODELS[kind]
        code = ErrorCode.UNKNOWN_SUBJECT if kind == "subject" else ErrorCode.UNKNOWN_GRADE
        async with self.session() as session:
            row: Any
            if ident is not None:
                row = await session.get(model, ident)
                what = f"id {ident}"
            else:
                key = name_key(name or "")
                row = await session.scalar(select(model).where(model.name_key == key))
                what = repr(name)
        if row is None:
            raise BadRequest(
                f"no {kind} {what}: the county's admin page lists them (Subjects and grades)",
                code=code,
            )
        if row.retired_at is not None:
            raise BadRequest(f"the {kind} {row.name!r} is retired", code=code)
        return row  # type: ignore[no-any-return]

    async def vocabulary_names(self, kind: Kind) -> dict[int, str]:
        model = MODELS[kind]
        async with self.session() as session:
            return dict((await session.execute(select(model.id, model.name))).all())

    async def vocabulary_in_use(self, kind: Kind) -> dict[int, int]:
        """How many lessons each subject or grade has (the admin page shows it)."""
        column = Lesson.subject_id if kind == "subject" else Lesson.grade_id
        query = select(column, func.count()).where(column.is_not(None)).group_by(column)
        async with self.session() as session:
            rows = (await session.execute(query)).all()
        return {int(k or 0): int(n) for k, n in rows}
