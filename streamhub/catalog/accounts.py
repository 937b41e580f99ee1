"""People's accounts and their one-time sign-in links (docs/roles.md)."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from streamhub.auth.roles import AccountRole
from streamhub.catalog.base import CatalogBase, Page, _hash
from streamhub.catalog.models import MAX_ID, Account, School, SignInLink, new_key, utcnow
from streamhub.errors import Conflict, ErrorCode, Unauthorized

LINK_PREFIX = "sl_"


def normalize_login(login: str) -> str:
    """One spelling per person: ``Li.Na@School.cn `` and ``li.na@school.cn`` are one login."""
    return login.strip().lower()


class AccountStore(CatalogBase):
    async def create_account(
        self,
        *,
        login: str,
        role: AccountRole,
        display_name: str = "",
        school_id: int | None = None,
        password_hash: str | None = None,
    ) -> Account:
        if school_id is not None:
            await self._get(School, school_id)
        row = Account(
            login=normalize_login(login),
            display_name=display_name,
            role=role.value,
            school_id=school_id,
            password_hash=password_hash,
            disabled=False,
        )
        try:
            async with self.session() as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise Conflict("an account with this login exists") from None
        return row

    async def get_account(self, account_id: int) -> Account:
        return await self._get(Account, account_id)

    async def account_by_login(self, login: str) -> Account | None:
        async with self.session() as session:
            query = select(Account).where(Account.login == normalize_login(login))
            return await session.scalar(query)

    async def list_accounts(
        self, limit: int, offset: int, school_id: int | None = None
    ) -> Page[Account]:
        query = select(Account).order_by(Account.id)
        if school_id is not None:
            query = query.where(Account.school_id == school_id)
        return await self._page(query, limit, offset)

    async def update_account(self, account_id: int, changes: dict[str, Any]) -> Account:
        if changes.get("school_id") is not None:
            await self._get(School, changes["school_id"])
        if "login" in changes:
            changes["login"] = normalize_login(changes["login"])
        if "password_hash" in changes:
            # A new password ends every session signed in with the old one.
            changes["session_key"] = new_key()
        try:
            return await self._update(Account, account_id, changes)
        except IntegrityError:
            raise Conflict("an account with this login exists") from None

    async def rehash_password(self, account_id: int, password_hash: str) -> Account:
        """The same password hashed anew (stronger parameters): sessions stay."""
        return await self._update(Account, account_id, {"password_hash": password_hash})

    async def end_sessions(self, account_id: int) -> Account:
        return await self._update(Account, account_id, {"session_key": new_key()})

    async def delete_account(self, account_id: int) -> None:
        await self._delete(Account, account_id)

    async def note_sign_in(self, account_id: int) -> None:
        await self._update(Account, account_id, {"last_sign_in_at": utcnow()})

    async def session_account(self, account_id: int, session_key: str) -> Account:
        """The account a session token names, if the session still holds: the account
        exists, is enabled, and its session key is the token's."""
        async with self.session() as session:
            row = await session.get(Account, account_id)
        if row is None or not hmac.compare_digest(row.session_key, session_key):
            raise Unauthorized("this session has ended; sign in again", code=ErrorCode.TOKEN_STALE)
        if row.disabled:
            raise Unauthorized("this account is disabled", code=ErrorCode.ACCOUNT_DISABLED)
        return row

    # ------------------------------------------------------------ sign-in links

    async def create_sign_in_link(self, account_id: int, ttl_s: int) -> str:
        """A one-time sign-in secret for the account (shown once; stored hashed)."""
        await self._get(Account, account_id)
        secret = secrets.token_urlsafe(32)
        async with self.session() as session, session.begin():
            row = SignInLink(
                account_id=account_id,
                secret_hash=_hash(secret),
                expires_at=utcnow() + timedelta(seconds=ttl_s),
            )
            session.add(row)
        return f"{LINK_PREFIX}{row.id}_{secret}"

    async def redeem_sign_in_link(self, link: str) -> Account:
        """The account a sign-in link opens, marking the link used: of two requests with one
        link, one wins (a compare-and-set on ``used_at``). Unauthorized otherwise, with one
        answer for unknown, used and expired links."""
        refused = Unauthorized(
            "this sign-in link is unknown, used or expired", code=ErrorCode.SIGN_IN_FAILED
        )
        ident, _, secret = link.removeprefix(LINK_PREFIX).partition("_")
        if not (
            link.startswith(LINK_PREFIX)
            and ident.isascii()
            and ident.isdigit()
            and len(ident) <= 10
            and int(ident) <= MAX_ID
            and secret
        ):
            raise refused
        now = utcnow()
        async with self.session() as session, session.begin():
            row = await session.get(SignInLink, int(ident))
            if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
                raise refused
            claimed = await session.execute(
                update(SignInLink)
                .where(
                    SignInLink.id == row.id,
                    SignInLink.used_at.is_(None),
                    SignInLink.expires_at > now,
                )
                .values(used_at=now)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                raise refused
            account = await session.get(Account, row.account_id)
            if account is None or account.disabled:
                raise refused
            account.last_sign_in_at = now
        return account
