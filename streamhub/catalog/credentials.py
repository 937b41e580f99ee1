"""Classroom device credentials: issued once, stored hashed, revoked."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from streamhub.catalog.base import CatalogBase, _hash
from streamhub.catalog.models import MAX_ID, Classroom, DeviceCredential, utcnow
from streamhub.errors import ErrorCode, Unauthorized

CREDENTIAL_PREFIX = "dc_"
# A PC's unchanged devices are written again after this long: "reported at" stays recent.
DEVICES_FRESH = timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedCredential:
    id: int
    classroom_id: int
    secret: str  # the full credential string, shown once


class CredentialStore(CatalogBase):
    async def issue_credential(self, classroom_id: int, label: str = "") -> IssuedCredential:
        await self._get(Classroom, classroom_id)
        secret = secrets.token_urlsafe(32)
        async with self.session() as session, session.begin():
            row = DeviceCredential(
                classroom_id=classroom_id, secret_hash=_hash(secret), label=label
            )
            session.add(row)
        return IssuedCredential(row.id, classroom_id, f"{CREDENTIAL_PREFIX}{row.id}_{secret}")

    async def list_credentials(self, classroom_id: int) -> list[DeviceCredential]:
        await self._get(Classroom, classroom_id)
        async with self.session() as session:
            query = select(DeviceCredential).where(DeviceCredential.classroom_id == classroom_id)
            return list((await session.scalars(query.order_by(DeviceCredential.id))).all())

    async def verify_credential(self, credential: str, agent: str = "") -> DeviceCredential:
        """The active credential this string proves, or Unauthorized (revoked or unknown).
        ``agent``: the PC's User-Agent, kept for the fleet board."""
        ident, _, secret = credential.removeprefix(CREDENTIAL_PREFIX).partition("_")
        well_formed = (
            ident.isascii() and ident.isdigit() and len(ident) <= 10 and int(ident) <= MAX_ID
        )
        if not credential.startswith(CREDENTIAL_PREFIX) or not well_formed or not secret:
            raise Unauthorized("malformed device credential", code=ErrorCode.CREDENTIAL_INVALID)
        async with self.session() as session, session.begin():
            row = await session.get(DeviceCredential, int(ident))
            if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
                raise Unauthorized("unknown device credential", code=ErrorCode.CREDENTIAL_INVALID)
            if row.revoked_at is not None:
                raise Unauthorized(
                    "this device credential was revoked; ask the school admin for a new one",
                    code=ErrorCode.CREDENTIAL_REVOKED,
                )
            row.last_used_at = utcnow()
            if agent and agent != row.agent:
                row.agent = agent
        return row

    async def report_devices(self, credential: DeviceCredential, devices: str) -> None:
        """The PC's devices as it reported them (JSON), written when they change or every few
        minutes: agents report on every timetable poll."""
        now = utcnow()
        fresh = credential.devices_at is not None and now - credential.devices_at < DEVICES_FRESH
        if devices == credential.devices and fresh:
            return
        async with self.session() as session, session.begin():
            row = await session.get(DeviceCredential, credential.id)
            if row is not None:
                row.devices, row.devices_at = devices, now

    async def get_credential(self, credential_id: int) -> DeviceCredential:
        return await self._get(DeviceCredential, credential_id)

    async def revoke_credential(self, credential_id: int) -> DeviceCredential:
        return await self._revoke(DeviceCredential, credential_id, "device credential")

    async def credential_active(self, credential_id: int) -> bool:
        async with self.session() as session:
            row = await session.get(DeviceCredential, credential_id)
        return row is not None and row.revoked_at is None

    async def revoked_credentials(self, credential_ids: Sequence[int]) -> dict[int, datetime]:
        """Which of these device credentials are revoked (or gone), and since when."""
        if not credential_ids:
            return {}
        wanted = set(credential_ids)
        async with self.session() as session:
            query = select(DeviceCredential.id, DeviceCredential.revoked_at).where(
                DeviceCredential.id.in_(wanted)
            )
            found = {row.id: row.revoked_at for row in (await session.execute(query)).all()}
        now = utcnow()
        gone = {ident: now for ident in wanted - set(found)}
        return gone | {ident: at for ident, at in found.items() if at is not None}
