"""Issued tokens (lecturer links, staff tokens) and the row bindings every token is checked
against."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select

from streamhub.auth.tokens import Grant
from streamhub.catalog.base import CatalogBase
from streamhub.catalog.models import Classroom, DeviceCredential, IssuedToken, Lesson, utcnow
from streamhub.errors import ErrorCode, Unauthorized
from streamhub.protocol import Role

# The bindings every token of a role must carry (Catalog.check_grant).
REQUIRED_BINDINGS: dict[Role, tuple[str, ...]] = {
    Role.LECTURER: ("lesson", "lesson_key", "token_id"),
    Role.CLASSROOM: ("lesson", "lesson_key", "classroom_id", "classroom_key", "credential_id"),
    Role.RECORDER: ("lesson", "lesson_key"),
    Role.STAFF: ("token_id",),
}


class TokenStore(CatalogBase):
    async def issue_token_row(
        self, kind: str, ttl_s: int, lesson_id: int | None = None, label: str = ""
    ) -> IssuedToken:
        row = IssuedToken(
            jti=secrets.token_hex(16),
            kind=kind,
            lesson_id=lesson_id,
            label=label,
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
        async with self.session() as session, session.begin():
            session.add(row)
        return row

    async def list_issued_tokens(
        self, kind: str | None = None, lesson_id: int | None = None, active_only: bool = False
    ) -> list[IssuedToken]:
        query = select(IssuedToken).order_by(IssuedToken.id.desc())
        if kind is not None:
            query = query.where(IssuedToken.kind == kind)
        if lesson_id is not None:
            query = query.where(IssuedToken.lesson_id == lesson_id)
        if active_only:
            query = query.where(IssuedToken.revoked_at.is_(None), IssuedToken.expires_at > utcnow())
        async with self.session() as session:
            return list((await session.scalars(query.limit(1000))).all())

    async def lesson_titles(self, lesson_ids: Sequence[int]) -> dict[int, str]:
        """The titles of these lessons (those that exist), in one read: the token list names
        each token's lesson whatever the number of lessons."""
        if not lesson_ids:
            return {}
        async with self.session() as session:
            rows = await session.execute(
                select(Lesson.id, Lesson.title).where(Lesson.id.in_(sorted(set(lesson_ids))))
            )
            return {ident: title for ident, title in rows.all()}

    async def get_issued_token(self, token_id: int) -> IssuedToken:
        return await self._get(IssuedToken, token_id)

    async def revoke_issued_token(self, token_id: int) -> IssuedToken:
        return await self._revoke(IssuedToken, token_id, "issued token")

    async def check_grant(self, grant: Grant) -> None:
        """Raise Unauthorized unless every row the token is bound to still exists, is the row
        it was issued for, and is not revoked (one read per binding, one session)."""
        required = REQUIRED_BINDINGS.get(grant.role, ())
        if any(getattr(grant, name) is None for name in required):
            raise Unauthorized(
                "this token predates row binding; ask for a new one", code=ErrorCode.TOKEN_INVALID
            )
        stale = Unauthorized(
            "the lesson, classroom or link this token was issued for no longer exists",
            code=ErrorCode.TOKEN_STALE,
        )
        async with self.session() as session:
            if grant.lesson_key is not None:
                lesson = await session.get(Lesson, grant.lesson)
                if lesson is None or not hmac.compare_digest(lesson.row_key, grant.lesson_key):
                    raise stale
            if grant.classroom_key is not None:
                room = await session.get(Classroom, grant.classroom_id)
                if room is None or not hmac.compare_digest(room.row_key, grant.classroom_key):
                    raise stale
            if grant.credential_id is not None:
                credential = await session.get(DeviceCredential, grant.credential_id)
                if credential is None or credential.classroom_id != grant.classroom_id:
                    raise stale
                if credential.revoked_at is not None:
                    raise Unauthorized(
                        "the device credential was revoked", code=ErrorCode.CREDENTIAL_REVOKED
                    )
            if grant.token_id is not None:
                issued = await session.get(IssuedToken, grant.token_id)
                if issued is None or not hmac.compare_digest(issued.jti, grant.jti):
                    raise stale
                if issued.revoked_at is not None:
                    raise Unauthorized("this token was revoked", code=ErrorCode.TOKEN_REVOKED)

    async def revoked_tokens(self, token_ids: Sequence[int]) -> set[int]:
        """Which of these issued tokens (lecturer links, staff tokens) are revoked or gone."""
        if not token_ids:
            return set()
        wanted = set(token_ids)
        async with self.session() as session:
            query = select(IssuedToken.id, IssuedToken.revoked_at).where(IssuedToken.id.in_(wanted))
            found = {row.id: row.revoked_at for row in (await session.execute(query)).all()}
        return (wanted - set(found)) | {ident for ident, at in found.items() if at is not None}
