"""People's accounts (docs/roles.md): the county admin manages every account; a school admin
the lecturer and staff accounts of their own school. Passwords are write-only: stored as
argon2id hashes, never returned, never logged. A one-time sign-in link lets someone in without
a password (a first sign-in, a forgotten password)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, SecretStr, StringConstraints

from streamhub.api.access import account_access, own_school
from streamhub.api.auth import Admins, Caller, CallerDep, ServicesDep
from streamhub.api.schemas import Body, Id, IdPath, Label, OffsetQuery, OptionalIdQuery, PageOut
from streamhub.auth.passwords import MAX_LENGTH, MIN_LENGTH
from streamhub.auth.roles import SCHOOL_MANAGED, AccountRole
from streamhub.catalog.models import Account
from streamhub.errors import BadRequest, ErrorCode, Forbidden
from streamhub.services import Services

router = APIRouter(prefix="/api/accounts", tags=["people"], dependencies=[Admins])

Login = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=3, max_length=254, pattern=r"^[^\s\x00]+$"
    ),
]
Password = Annotated[SecretStr, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]


class AccountIn(Body):
    login: Login = Field(description="an email address as a rule; one spelling per person")
    display_name: Label = ""
    role: AccountRole
    school_id: Id | None = Field(
        default=None, description="a school admin's school (required); a lecturer's, optional"
    )
    password: Password | None = Field(
        default=None, description=f"at least {MIN_LENGTH} characters; none: sign-in links only"
    )


class AccountPatch(Body):
    login: Login | None = None
    display_name: Label | None = None
    role: AccountRole | None = None
    school_id: Id | None = None
    password: Password | None = None
    # A disabled account's sessions are refused from its next request.
    disabled: bool | None = None


class AccountOut(BaseModel):
    id: int
    login: str
    display_name: str
    role: AccountRole
    school_id: int | None
    disabled: bool
    has_password: bool
    created_at: datetime
    last_sign_in_at: datetime | None


class SignInLinkOut(BaseModel):
    link: str = Field(description="the admin page's address with the one-time secret")
    secret: str = Field(description="the one-time secret itself (POST /api/session/link)")
    expires_in_s: int


def account_out(row: Account) -> AccountOut:
    return AccountOut(
        id=row.id,
        login=row.login,
        display_name=row.display_name,
        role=AccountRole(row.role),
        school_id=row.school_id,
        disabled=row.disabled,
        has_password=row.password_hash is not None,
        created_at=row.created_at,
        last_sign_in_at=row.last_sign_in_at,
    )


def _may_give(who: Caller, role: AccountRole, school_id: int | None) -> None:
    """A school admin gives only lecturer and staff roles, of their own school."""
    if who.county:
        return
    if role not in SCHOOL_MANAGED or school_id != own_school(who):
        raise Forbidden("a school admin manages their school's lecturers and staff only")


def _checked(role: AccountRole, school_id: int | None) -> None:
    if role is AccountRole.SCHOOL_ADMIN and school_id is None:
        raise BadRequest("a school admin needs a school_id", code=ErrorCode.VALIDATION_FAILED)


@router.get("")
async def list_accounts(
    svc: ServicesDep,
    who: CallerDep,
    school_id: OptionalIdQuery = None,
    limit: int = Query(100, ge=1, le=500),
    offset: OffsetQuery = 0,
) -> PageOut[AccountOut]:
    """Accounts (of one school with ``school_id``; a school admin: of their own school)."""
    if not who.county:
        if school_id is not None and school_id != own_school(who):
            raise Forbidden("a school admin sees their own school's accounts only")
        school_id = own_school(who)
    page = await svc.catalog.list_accounts(limit, offset, school_id)
    items = [account_out(r) for r in page.items]
    return PageOut(items=items, total=page.total, limit=limit, offset=offset)


@router.post("", status_code=201)
async def create_account(body: AccountIn, svc: ServicesDep, who: CallerDep) -> AccountOut:
    """Add a person. A school admin adds lecturers and staff of their school (``school_id``
    may be left out)."""
    school_id = body.school_id
    if not who.county and school_id is None:
        school_id = own_school(who)
    _checked(body.role, school_id)
    _may_give(who, body.role, school_id)
    hashed = (
        await svc.passwords.hash(body.password.get_secret_value())
        if body.password is not None
        else None
    )
    row = await svc.catalog.create_account(
        login=body.login,
        role=body.role,
        display_name=body.display_name,
        school_id=school_id,
        password_hash=hashed,
    )
    return account_out(row)


async def _managed(svc: Services, who: Caller, account_id: int) -> Account:
    row = await svc.catalog.get_account(account_id)
    account_access(who, row)
    return row


@router.get("/{account_id}")
async def get_account(account_id: IdPath, svc: ServicesDep, who: CallerDep) -> AccountOut:
    return account_out(await _managed(svc, who, account_id))


@router.patch("/{account_id}")
async def update_account(
    account_id: IdPath, body: AccountPatch, svc: ServicesDep, who: CallerDep
) -> AccountOut:
    """Change a person's account. A new role or ``disabled`` counts from their next request; a
    new password ends their sessions."""
    row = await _managed(svc, who, account_id)
    changes = body.model_dump(exclude_none=True, exclude={"password"})
    role = body.role or AccountRole(row.role)
    school_id = changes.get("school_id", row.school_id)
    _checked(role, school_id)
    _may_give(who, role, school_id)
    if body.password is not None:
        changes["password_hash"] = await svc.passwords.hash(body.password.get_secret_value())
    if "role" in changes:
        changes["role"] = role.value
    return account_out(await svc.catalog.update_account(account_id, changes))


@router.delete("/{account_id}", status_code=204)
async def delete_account(account_id: IdPath, svc: ServicesDep, who: CallerDep) -> Response:
    """Delete an account: its sessions are refused from the next request; its lessons stay,
    without a lecturer account."""
    await _managed(svc, who, account_id)
    await svc.catalog.delete_account(account_id)
    return Response(status_code=204)


@router.post("/{account_id}/sign-in-link", status_code=201)
async def sign_in_link(account_id: IdPath, svc: ServicesDep, who: CallerDep) -> SignInLinkOut:
    """A one-time sign-in link for the person (``auth.sign_in_link_ttl_s``, 15 minutes by
    default): it signs them in once, then never again. Hand it over as you would a password."""
    row = await _managed(svc, who, account_id)
    if row.disabled:
        raise Forbidden("this account is disabled")
    ttl = svc.settings.auth.sign_in_link_ttl_s
    secret = await svc.catalog.create_sign_in_link(account_id, ttl)
    # In the fragment: browsers never send it to a server or log it.
    link = f"{svc.settings.effective_public_url}/admin#signin={secret}"
    return SignInLinkOut(link=link, secret=secret, expires_in_s=ttl)
