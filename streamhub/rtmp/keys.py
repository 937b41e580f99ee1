"""RTMP stream keys: one per lesson, issued, listed and revoked like a lecturer link.

A key is ``<row id>-<mac>``: the issued-token row it belongs to (kind ``rtmp_key``), and an
HMAC of that row's ``jti`` under the hub's JWT secret. Nothing secret is stored: the catalog
holds only the row, and the hub can show the key again (the lecturer page asks for it). It is
short and plain (digits, a dash, hex) because lecture-capture boxes take stream keys in small
text fields; a lecturer token (a JWT) would not fit many of them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from streamhub.catalog.models import IssuedToken
from streamhub.catalog.store import Catalog
from streamhub.errors import NotFound

KIND = "rtmp_key"
_KEY = re.compile(r"([0-9]{1,12})-([0-9a-f]{32})")


class KeyRefused(Exception):
    """The stream key is not a live lesson's current key. Its message goes to the encoder
    (FFmpeg prints it); it never says which part was wrong."""


def stream_key(secret: str, row_id: int, jti: str) -> str:
    mac = hmac.new(secret.encode(), f"rtmp-key:{row_id}:{jti}".encode(), hashlib.sha256)
    return f"{row_id}-{mac.hexdigest()[:32]}"


@dataclass(frozen=True)
class KeyRow:
    id: int
    jti: str
    lesson_id: int
    expires_at: datetime


async def check_key(catalog: Catalog, secret: str, key: str) -> KeyRow:
    """The key's row, if the key is one the hub issued and neither revoked nor expired."""
    refused = KeyRefused("unknown, revoked or expired stream key")
    # Some encoders append "?query" to the stream name (an auth scheme of another server).
    match = _KEY.fullmatch(key.split("?", 1)[0])
    if match is None:
        raise refused
    row_id = int(match.group(1))
    try:
        row: IssuedToken = await catalog.get_issued_token(row_id)
    except NotFound:
        raise refused from None
    expected = stream_key(secret, row.id, row.jti)
    if not hmac.compare_digest(expected, match.group(0)):
        raise refused
    expires_at = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if row.kind != KIND or row.lesson_id is None or row.revoked_at is not None:
        raise refused
    if expires_at <= datetime.now(UTC):
        raise refused
    return KeyRow(row.id, row.jti, row.lesson_id, expires_at)
