"""The admin key and the token-signing secret: from settings, or generated once per data folder."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from streamhub.config import Settings


@dataclass(frozen=True)
class HubSecrets:
    admin_key: str
    jwt_secret: str
    admin_key_generated: bool
    admin_key_file: Path | None


def _read_or_create(path: Path) -> tuple[str, bool]:
    if path.exists():
        return path.read_text(encoding="utf-8").strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # Owner-only from the first byte: the file is created with mode 0600.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value, True


def load_secrets(settings: Settings) -> HubSecrets:
    if settings.admin_key is not None:
        admin_key, generated, key_file = settings.admin_key.get_secret_value(), False, None
    else:
        key_file = settings.data_dir / "admin_key"
        admin_key, generated = _read_or_create(key_file)
    if settings.jwt_secret is not None:
        jwt_secret = settings.jwt_secret.get_secret_value()
    else:
        jwt_secret, _ = _read_or_create(settings.data_dir / "jwt_secret")
    return HubSecrets(admin_key, jwt_secret, generated, key_file)
