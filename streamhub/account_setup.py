"""The first accounts, from the command line (`streamhub account add`): straight into the
catalog the hub uses (its migrations run first), with a one-time sign-in link to hand over."""

from __future__ import annotations

from dataclasses import dataclass

from streamhub.auth.passwords import Passwords
from streamhub.auth.roles import AccountRole
from streamhub.catalog.store import Catalog
from streamhub.config import Settings


@dataclass(frozen=True)
class AddedAccount:
    id: int
    login: str
    role: AccountRole
    link: str | None  # a one-time sign-in link, unless a password was given
    link_ttl_s: int


async def add_account(
    settings: Settings,
    *,
    login: str,
    role: AccountRole,
    display_name: str = "",
    school_id: int | None = None,
    password: str | None = None,
) -> AddedAccount:
    catalog = await Catalog.open(settings)
    try:
        hashed = await Passwords().hash(password) if password is not None else None
        row = await catalog.create_account(
            login=login,
            role=role,
            display_name=display_name,
            school_id=school_id,
            password_hash=hashed,
        )
        ttl = settings.auth.sign_in_link_ttl_s
        link = None
        if password is None:
            secret = await catalog.create_sign_in_link(row.id, ttl)
            link = f"{settings.effective_public_url}/admin#signin={secret}"
        return AddedAccount(row.id, row.login, role, link, ttl)
    finally:
        await catalog.close()
