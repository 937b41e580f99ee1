"""Signing in (docs/roles.md): a login and password, or a one-time sign-in link, give a
session token; ``GET /api/me`` says who a token is; a person changes their own password.

A wrong password and an unknown login get the same answer in about the same time (the
password is checked against a stand-in hash); an address that fails too often for one login
waits (``auth.sign_in_failures`` within ``auth.sign_in_window_s``)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, SecretStr, StringConstraints

from streamhub.api.accounts import AccountOut, Password, account_out
from streamhub.api.auth import CallerDep, ServicesDep
from streamhub.api.schemas import NO_NUL, Body
from streamhub.auth.passwords import MAX_LENGTH
from streamhub.catalog.accounts import normalize_login
from streamhub.catalog.models import Account
from streamhub.errors import ErrorCode, Forbidden, RateLimited, Unauthorized
from streamhub.services import Services

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["people"])
# The routes that take a body from anyone (streamhub.http.body), and how much.
SIGN_IN_PATHS = ("/api/session", "/api/session/link")
SIGN_IN_MAX_BYTES = 2048


class SignInIn(Body):
    login: Annotated[str, StringConstraints(max_length=254, pattern=NO_NUL)]
    # Not held to the minimum length here: a short wrong password is simply wrong.
    password: Annotated[SecretStr, Field(max_length=MAX_LENGTH)]


class LinkIn(Body):
    secret: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)]


class SessionOut(BaseModel):
    token: str
    expires_in_s: int
    account: AccountOut


class MeOut(BaseModel):
    # How the caller is signed in: the admin key, a person's account, or a token.
    kind: str = Field(pattern="^(admin_key|account|token)$")
    # county_admin | school_admin | lecturer | staff for the admin key and accounts; the
    # token's role otherwise.
    role: str
    account: AccountOut | None = None
    lesson_id: int | None = None


class PasswordIn(Body):
    password: Password


def _session(svc: Services, row: Account) -> SessionOut:
    ttl = svc.settings.auth.session_ttl_s
    token = svc.tokens.issue_session(row.id, row.session_key, ttl)
    return SessionOut(token=token, expires_in_s=ttl, account=account_out(row))


@router.post("/session")
async def sign_in(body: SignInIn, request: Request, svc: ServicesDep) -> SessionOut:
    """Sign in with a login and password: a session token for `Authorization: Bearer`."""
    auth = svc.settings.auth
    login = normalize_login(body.login)
    address = request.client.host if request.client else ""
    if svc.sign_ins.blocked(address, login, auth.sign_in_failures, auth.sign_in_window_s):
        raise RateLimited("too many failed sign-ins; wait and try again")
    row = await svc.catalog.account_by_login(login) if login else None
    stored = row.password_hash if row is not None else None
    ok = await svc.passwords.verify(stored, body.password.get_secret_value())
    if row is None or not ok:
        svc.sign_ins.failed(address, login)
        logger.info("sign-in refused for a login from %s", address)
        raise Unauthorized("wrong login or password", code=ErrorCode.SIGN_IN_FAILED)
    if row.disabled:
        raise Unauthorized("this account is disabled", code=ErrorCode.ACCOUNT_DISABLED)
    svc.sign_ins.succeeded(address, login)
    if row.password_hash is not None and svc.passwords.needs_rehash(row.password_hash):
        # Hashed with older parameters: stored again with today's, keeping the sessions.
        new_hash = await svc.passwords.hash(body.password.get_secret_value())
        row = await svc.catalog.rehash_password(row.id, new_hash)
    await svc.catalog.note_sign_in(row.id)
    logger.info("account %s signed in", row.id)
    return _session(svc, row)


@router.post("/session/link")
async def sign_in_with_link(body: LinkIn, svc: ServicesDep) -> SessionOut:
    """Sign in with a one-time sign-in link's secret: it works once, within its lifetime."""
    row = await svc.catalog.redeem_sign_in_link(body.secret)
    logger.info("account %s signed in with a link", row.id)
    return _session(svc, row)


@router.delete("/session", status_code=204)
async def sign_out_everywhere(svc: ServicesDep, who: CallerDep) -> Response:
    """End every session of the signed-in account (this one included)."""
    if who.account is None:
        raise Forbidden("only a person's session can be signed out")
    await svc.catalog.end_sessions(who.account.id)
    return Response(status_code=204)


@router.get("/me")
async def me(svc: ServicesDep, who: CallerDep) -> MeOut:
    """Who this token is: the admin key, a person (with their account), or a token's role."""
    if who.account is not None:
        row = await svc.catalog.get_account(who.account.id)
        return MeOut(kind="account", role=who.account.role.value, account=account_out(row))
    if who.grant is None:
        return MeOut(kind="admin_key", role="county_admin")
    return MeOut(kind="token", role=who.role.value, lesson_id=who.grant.lesson)


@router.put("/me/password", status_code=204)
async def set_password(body: PasswordIn, svc: ServicesDep, who: CallerDep) -> Response:
    """Set the signed-in person's password (after a sign-in link, say). Their other sessions
    end; the answer's caller signs in again."""
    if who.account is None:
        raise Forbidden("only a person has a password")
    hashed = await svc.passwords.hash(body.password.get_secret_value())
    await svc.catalog.update_account(who.account.id, {"password_hash": hashed})
    return Response(status_code=204)
