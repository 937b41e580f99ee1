"""What the media feeds (WHIP sessions, the RTMP bridge) take from the hub: its long-lived
parts, as a protocol that ``streamhub.services.Services`` satisfies. The feeds hang on
``Services`` themselves, so naming ``Services`` here would make an import cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from streamhub.auth.secrets import HubSecrets
    from streamhub.auth.tokens import TokenIssuer
    from streamhub.catalog.store import Catalog
    from streamhub.config import Settings
    from streamhub.lesson.registry import LessonRegistry


class HubParts(Protocol):
    settings: Settings
    secrets: HubSecrets
    tokens: TokenIssuer
    catalog: Catalog
    lessons: LessonRegistry
