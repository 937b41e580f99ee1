"""A lesson member as the room sees it: identity, state, and its media slots."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from streamhub.auth.tokens import Grant
from streamhub.protocol import (
    ErrorCode,
    Message,
    ParticipantInfo,
    ParticipantStats,
    Role,
    Slot,
    StatsReport,
)


class MediaSource(Protocol):
    """A published track on the hub (streamhub.media.forwarder.TrackSource)."""

    kind: str

    @property
    def fps(self) -> float: ...


class MediaSink(Protocol):
    """A subscriber's slot (streamhub.media.forwarder.OutTrack)."""

    kind: str

    def switch(self, source: Any) -> None: ...

    def set_enabled(self, enabled: bool) -> None: ...


class PeerLike(Protocol):
    """The participant's peer connection on the hub (streamhub.media.peer.HubPeer)."""

    def stats(self) -> Any: ...

    async def close(self) -> None: ...


@dataclass(eq=False)
class Participant:
    id: str
    grant: Grant
    name: str
    post: Callable[[Message], None]
    close: Callable[[ErrorCode, str], None]
    hand_raised: bool = False
    muted: bool = False
    audio_only: bool = False
    # Audio only by the hub's own decision (overload, streamhub.lesson.overload).
    shed: bool = False
    # The lecturer's media from outside the lecturer page (a WHIP publisher): ``Slot.CAMERA``
    # holds the camera and microphone slots, ``Slot.SCREEN`` the screen; the page (if open)
    # moderates. A feed is never ``room.lecturer``.
    feed: Slot | None = None
    # How a feed reaches the hub: "whip", or "rtmp" (streamhub.rtmp: camera and microphone).
    ingest: str = "whip"
    joined_at: float = field(default_factory=time.monotonic)
    # The attendance row, written in the background so that joining never waits on the catalog.
    attendance: asyncio.Task[int | None] | None = None
    # The catalog row of the stretch in audio only going on now, if any (its session's
    # audio-only minutes: LessonRegistry.note_audio_only).
    audio_only_row: asyncio.Task[int | None] | None = None
    peer: PeerLike | None = None
    layout: list[Slot] = field(default_factory=list)
    sources: dict[Slot, MediaSource] = field(default_factory=dict)
    # layout index -> slot track; tiles are told apart by their index
    sinks: dict[int, MediaSink] = field(default_factory=dict)
    mids: dict[str, int] = field(default_factory=dict)
    reported: StatsReport | None = None
    stats: ParticipantStats | None = None
    quality_samples: list[float] = field(default_factory=list)
    # When the session ended for the catalog, if not when it closes (e.g. its credential's
    # revocation, learnt late).
    gone_at: datetime | None = None

    @property
    def role(self) -> Role:
        return self.grant.role

    @property
    def receives_audio_only(self) -> bool:
        """Sound only, by its own wish (a poor link) or the hub's (overload)."""
        return self.audio_only or self.shed

    @property
    def hidden(self) -> bool:
        return self.grant.hidden or self.grant.role is Role.RECORDER

    @property
    def classroom_id(self) -> int | None:
        return self.grant.classroom_id

    def info(self, stage: str | None) -> ParticipantInfo:
        return ParticipantInfo(
            id=self.id,
            role=self.role,
            name=self.name,
            classroom_id=self.classroom_id,
            hand_raised=self.hand_raised,
            muted=self.muted,
            on_stage=stage == self.id,
            audio_only=self.receives_audio_only,
            devices=self.reported.devices if self.reported is not None else None,
            whip=None
            if self.feed is None or self.ingest != "whip"
            else "screen"
            if self.feed is Slot.SCREEN
            else "camera",
            rtmp=self.feed is not None and self.ingest == "rtmp",
        )
