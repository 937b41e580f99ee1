"""Who is calling: the admin key, a person's session (an account: county admin, school admin,
lecturer, staff), a JWT access token, or a classroom PC's device credential.

Routes declare what they need with the dependencies below, and check the objects they touch
with streamhub.api.access; the authorization matrix test enumerates every route against every
kind of caller (docs/roles.md)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from streamhub.auth.roles import AccountRole
from streamhub.auth.tokens import Grant, Session
from streamhub.catalog.models import Account, DeviceCredential
from streamhub.catalog.store import CREDENTIAL_PREFIX
from streamhub.errors import ErrorCode, Forbidden, Unauthorized
from streamhub.protocol import Role
from streamhub.services import Services

bearer_scheme = HTTPBearer(
    auto_error=False, description="admin key, access token or device credential"
)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


@dataclass(frozen=True)
class SignedIn:
    """The account behind a session, as the catalog has it at this request (a role changed or
    an account disabled since the sign-in counts from the next request)."""

    id: int
    login: str
    display_name: str
    role: AccountRole
    school_id: int | None

    @classmethod
    def of(cls, row: Account) -> SignedIn:
        return cls(row.id, row.login, row.display_name, AccountRole(row.role), row.school_id)


# The protocol role an account acts with where only a role is asked (a school admin's
# powers are all checked against objects: streamhub.api.access).
ACCOUNT_ROLES = {
    AccountRole.COUNTY_ADMIN: Role.ADMIN,
    AccountRole.SCHOOL_ADMIN: Role.ADMIN,
    AccountRole.LECTURER: Role.LECTURER,
    AccountRole.STAFF: Role.STAFF,
}


@dataclass(frozen=True)
class Caller:
    role: Role
    grant: Grant | None  # None for the admin key and accounts
    account: SignedIn | None = None  # a person signed in

    @property
    def county(self) -> bool:
        """Everything: the admin key, or a county admin."""
        if self.account is not None:
            return self.account.role is AccountRole.COUNTY_ADMIN
        return self.role is Role.ADMIN

    def is_account(self, role: AccountRole) -> bool:
        return self.account is not None and self.account.role is role

    @property
    def school(self) -> int | None:
        """The school a school admin manages; None for anyone else (and for a school admin
        whose school was deleted: they manage nothing)."""
        if self.account is not None and self.account.role is AccountRole.SCHOOL_ADMIN:
            return self.account.school_id
        return None

    @property
    def reads_everything(self) -> bool:
        """The county, and staff (a staff token or a staff account): every lesson, read-only."""
        return self.county or self.role is Role.STAFF

    def lesson_token_for(self, lesson_id: int) -> bool:
        """A lecturer link (a per-lesson token) of this lesson."""
        return (
            self.account is None
            and self.role is Role.LECTURER
            and self.grant is not None
            and self.grant.lesson == lesson_id
        )


def _raw_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthorized(
            "an Authorization: Bearer token is required", code=ErrorCode.TOKEN_MISSING
        )
    return credentials.credentials


async def caller(
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    token = _raw_token(credentials)
    if hmac.compare_digest(token.encode(), svc.secrets.admin_key.encode()):
        return Caller(Role.ADMIN, None)
    if token.startswith(CREDENTIAL_PREFIX):
        raise Unauthorized(
            "a device credential only opens /api/device routes", code=ErrorCode.TOKEN_INVALID
        )
    claims = svc.tokens.read(token)
    if isinstance(claims, Session):
        # A disabled account, a changed role, a new password: from the next request.
        account = SignedIn.of(await svc.catalog.session_account(claims.account, claims.key))
        return Caller(ACCOUNT_ROLES[account.role], None, account)
    # Revocation, and the deletion of the rows the token names, take effect on the next
    # request, not at token expiry.
    await svc.catalog.check_grant(claims)
    return Caller(claims.role, claims)


CallerDep = Annotated[Caller, Depends(caller)]


def require(*roles: Role, accounts: Iterable[AccountRole] = ()) -> params.Depends:
    """Let through the county (the admin key, county admins), tokens of these roles, and
    accounts of these roles (a staff account wherever a staff token goes). A route that lets
    school admins or lecturers' accounts through checks the objects it touches."""
    tokens = {Role.ADMIN, *roles}
    people = {AccountRole.COUNTY_ADMIN, *accounts}
    if Role.STAFF in tokens:
        people.add(AccountRole.STAFF)

    async def check(who: CallerDep) -> Caller:
        if who.account is not None:
            if who.account.role not in people:
                raise Forbidden(f"a {who.account.role.value} account cannot do this")
        elif who.role not in tokens:
            raise Forbidden(f"a {who.role.value} token cannot do this")
        return who

    # The marker `Depends()` makes, typed: route `dependencies=[...]` take this type.
    return params.Depends(check)


async def device(
    request: Request,
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> DeviceCredential:
    token = _raw_token(credentials)
    if not token.startswith(CREDENTIAL_PREFIX):
        raise Unauthorized("a device credential is required", code=ErrorCode.CREDENTIAL_INVALID)
    return await svc.catalog.verify_credential(token, agent_of(request))


def agent_of(request: Request) -> str:
    """The PC's User-Agent as the fleet board shows it: printable, at most 160 characters."""
    agent = request.headers.get("user-agent", "")
    return "".join(c for c in agent if c.isprintable())[:160]


DeviceDep = Annotated[DeviceCredential, Depends(device)]
# The county only: the admin key and county admins.
AdminOnly = require()
AdminOrStaff = require(Role.STAFF)
# The county and school admins (the route keeps a school admin to their school's objects).
Admins = require(accounts=[AccountRole.SCHOOL_ADMIN])
# ...and staff, read-only.
AdminsOrStaff = require(Role.STAFF, accounts=[AccountRole.SCHOOL_ADMIN])
# ...and lecturers' accounts (kept to their own lessons).
People = require(Role.STAFF, accounts=[AccountRole.SCHOOL_ADMIN, AccountRole.LECTURER])
