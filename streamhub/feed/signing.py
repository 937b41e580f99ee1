"""Webhook signatures: ``StreamHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``<t>.<body>`` with the webhook's secret. The time inside the signed text lets a receiver refuse
a replayed old delivery; it should also keep the ids (``StreamHub-Delivery``) it has seen."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "StreamHub-Signature"
DELIVERY_HEADER = "StreamHub-Delivery"
EVENT_HEADER = "StreamHub-Event"


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    """The signature header's value for ``body`` sent at ``at`` (now by default)."""
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def verify(secret: str, body: bytes, header: str, tolerance_s: float = 300.0) -> bool:
    """What a receiver checks: the signature matches and is no older than ``tolerance_s``."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        stamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - stamp) > tolerance_s:
        return False
    expected = sign(secret, body, stamp).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
