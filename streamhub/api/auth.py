"""Who is calling: the admin key, a JWT access token, or a classroom PC's device credential.

Routes declare what they need with the dependencies below; the authorization matrix test
enumerates every route against every kind of caller."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from streamhub.auth.tokens import Grant
from streamhub.catalog.models import DeviceCredential
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
class Caller:
    role: Role
    grant: Grant | None  # None for the admin key

    def may_manage_lesson(self, lesson_id: int) -> bool:
        if self.role is Role.ADMIN:
            return True
        return (
            self.role is Role.LECTURER
            and self.grant is not None
            and (self.grant.lesson == lesson_id)
        )

    def may_view_lesson(self, lesson_id: int) -> bool:
        return self.role is Role.STAFF or self.may_manage_lesson(lesson_id)


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
    grant = svc.tokens.verify(token)
    # Revocation, and the deletion of the rows the token names, take effect on the next
    # request, not at token expiry.
    await svc.catalog.check_grant(grant)
    return Caller(grant.role, grant)


CallerDep = Annotated[Caller, Depends(caller)]


def require(*roles: Role) -> params.Depends:
    allowed = {Role.ADMIN, *roles}

    async def check(who: CallerDep) -> Caller:
        if who.role not in allowed:
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
AdminOnly = require()
AdminOrStaff = require(Role.STAFF)
