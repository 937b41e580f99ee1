"""The hub's long-lived parts, built once per app and handed to routes through app.state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from streamhub.auth.passwords import Passwords
from streamhub.auth.secrets import HubSecrets
from streamhub.auth.throttle import SignInThrottle
from streamhub.auth.tokens import TokenIssuer
from streamhub.config import Settings
from streamhub.lesson.presence import Presence
from streamhub.lesson.registry import LessonRegistry
from streamhub.metrics import HubMetrics

if TYPE_CHECKING:
    from streamhub.access_log import AccessLog
    from streamhub.catalog.store import Catalog
    from streamhub.feed.events import Feed
    from streamhub.rtmp.bridge import RtmpBridge
    from streamhub.signaling.whip import WhipSessions


@dataclass
class Services:
    settings: Settings
    secrets: HubSecrets
    tokens: TokenIssuer
    catalog: Catalog
    lessons: LessonRegistry
    metrics: HubMetrics = field(default_factory=HubMetrics)
    # Classroom PCs outside the rooms, for the lecturer's roster.
    presence: Presence = field(default_factory=Presence)
    # People's passwords (argon2id, hashed off the event loop).
    passwords: Passwords = field(default_factory=Passwords)
    sign_ins: SignInThrottle = field(default_factory=SignInThrottle)
    # WHIP publishers (streamhub.signaling.whip), made once the lessons are.
    whip: WhipSessions | None = None
    # The RTMP bridge (streamhub.rtmp.bridge), when ``rtmp.enabled``.
    rtmp: RtmpBridge | None = None
    # The data feed (events kept in the catalog, pushed to webhooks), made with the lessons.
    feed: Feed | None = None
    # Capsule cuts running at once (capsules.cuts_at_once; set when the app is built).
    capsule_cuts: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    # Who watched what (streamhub.access_log), written in the background; made with the app.
    access_log: AccessLog | None = None
