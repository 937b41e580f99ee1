"""JWT access tokens and their grants (DESIGN.md, security model)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streamhub.errors import ErrorCode, Unauthorized
from streamhub.protocol import Role

ALGORITHM = "HS256"
ISSUER = "streamhub"
TICKET_AUDIENCE = "streamhub-media"
# A person's session (docs/roles.md): its audience keeps it from ever passing as a lesson
# grant (signaling, WHIP), as a media ticket's does.
SESSION_AUDIENCE = "streamhub-session"


class Session(BaseModel):
    """A signed-in account's token: which account, and the account's session key (a password
    change or a sign-out everywhere draws a new key, ending the sessions before). What the
    account may do is read from the catalog on every request, not from here."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    account: int = Field(ge=1)
    key: str = Field(min_length=1, max_length=64)
    exp: int


class Grant(BaseModel):
    """What a token lets its holder do."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str = Field(min_length=1, max_length=128)
    role: Role
    lesson: int | None = None
    name: str = Field(default="", max_length=120)
    can_publish: bool = False
    can_subscribe: bool = False
    hidden: bool = False
    classroom_id: int | None = None
    # The device credential a classroom token was exchanged from, checked on every use so that
    # revocation takes effect on the next request.
    credential_id: int | None = None
    # Bindings to the exact rows the token was issued for (DESIGN.md, security model): the
    # random keys of the lesson and classroom rows, and the issued-token row of a lecturer
    # link or staff token (its ``jti`` is that row's). Checked against the catalog on every
    # use, so a token that outlives its row, or was revoked, opens nothing.
    lesson_key: str | None = Field(default=None, max_length=64)
    classroom_key: str | None = Field(default=None, max_length=64)
    token_id: int | None = None
    exp: int
    iat: int
    jti: str


class TokenIssuer:
    """Signs and verifies access tokens with the hub's secret."""

    def __init__(self, secret: str, default_ttl_s: int) -> None:
        self._secret = secret
        self._default_ttl_s = default_ttl_s

    def issue(
        self,
        *,
        sub: str,
        role: Role,
        lesson: int | None = None,
        name: str = "",
        can_publish: bool = False,
        can_subscribe: bool = False,
        hidden: bool = False,
        classroom_id: int | None = None,
        credential_id: int | None = None,
        lesson_key: str | None = None,
        classroom_key: str | None = None,
        token_id: int | None = None,
        jti: str | None = None,
        ttl_s: int | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": sub,
            "role": role.value,
            "lesson": lesson,
            "name": name,
            "can_publish": can_publish,
            "can_subscribe": can_subscribe,
            "hidden": hidden,
            "classroom_id": classroom_id,
            "credential_id": credential_id,
            "lesson_key": lesson_key,
            "classroom_key": classroom_key,
            "token_id": token_id,
            "iat": now,
            "exp": now + (ttl_s if ttl_s is not None else self._default_ttl_s),
            "jti": jti or uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Grant:
        """Return the token's grant; raise Unauthorized for any bad token."""
        try:
            # Pinning the algorithm list refuses "alg: none" and key-confusion tokens.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired", code=ErrorCode.TOKEN_EXPIRED) from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token", code=ErrorCode.TOKEN_INVALID) from exc
        try:
            return Grant.model_validate(claims)
        except ValidationError as exc:
            raise Unauthorized("token grants are malformed", code=ErrorCode.TOKEN_INVALID) from exc

    def read(self, token: str) -> Grant | Session:
        """A lesson grant or an account's session; Unauthorized for anything else (a media
        ticket included)."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired", code=ErrorCode.TOKEN_EXPIRED) from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token", code=ErrorCode.TOKEN_INVALID) from exc
        audience = claims.get("aud")
        if audience is None:
            return self.verify(token)
        if audience != SESSION_AUDIENCE:
            raise Unauthorized("invalid token", code=ErrorCode.TOKEN_INVALID)
        try:
            return Session.model_validate(claims)
        except ValidationError as exc:
            raise Unauthorized("session token is malformed", code=ErrorCode.TOKEN_INVALID) from exc

    def issue_session(self, account_id: int, session_key: str, ttl_s: int) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": SESSION_AUDIENCE,
            "sub": f"account-{account_id}",
            "account": account_id,
            "key": session_key,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    # ------------------------------------------------------------ media tickets

    def issue_ticket(
        self,
        recording_id: int,
        row_key: str,
        ttl_s: int = 3600,
        by: tuple[str, str] | None = None,
    ) -> str:
        """A read-only ticket for one recording's files, for `<video src>` and `<img src>`,
        which cannot send an Authorization header. Its audience keeps it from ever passing
        as an access token; the recording row's key keeps it to that one row."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": TICKET_AUDIENCE,
            "rec": recording_id,
            "key": row_key,
            "iat": now,
            "exp": now + ttl_s,
        }
        if by is not None:
            # Who it was issued to (the access log names the downloader by it).
            claims["by"], claims["byn"] = by
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def ticket_allows(self, ticket: str, recording_id: int, row_key: str) -> bool:
        return self.ticket_claims(ticket, recording_id, row_key) is not None

    def ticket_claims(self, ticket: str, recording_id: int, row_key: str) -> dict[str, Any] | None:
        """A valid ticket's claims for this very row; None for any other."""
        try:
            claims = jwt.decode(
                ticket,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                audience=TICKET_AUDIENCE,
                options={"require": ["exp", "aud", "rec", "key"]},
            )
        except jwt.PyJWTError:
            return None
        if claims.get("rec") == recording_id and claims.get("key") == row_key:
            return dict(claims)
        return None
