"""What the live side needs from the catalog, as a small interface (implemented by
streamhub.catalog.store.Catalog) so that room logic never touches SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from streamhub.auth.tokens import Grant
from streamhub.lesson.participant import Participant
from streamhub.protocol import Role


@dataclass(frozen=True)
class LessonInfo:
    id: int
    title: str
    subject: str
    lecturer_name: str
    join_code: str
    status: str  # "scheduled" | "live" | "ended"
    invited_classroom_ids: frozenset[int] = field(default_factory=frozenset)
    # Classrooms outside the invitations may join only when this is said explicitly.
    open_to_all: bool = False
    # The lesson row's random key, which tokens for this lesson carry (Grant.lesson_key).
    row_key: str = ""

    def admits_classroom(self, classroom_id: int | None) -> bool:
        return self.open_to_all or classroom_id in self.invited_classroom_ids


@dataclass(frozen=True)
class LessonEvent:
    """Something a lesson's members did that is kept with the lesson (streamhub.catalog's
    lesson_events): a quick reply, a hand, a question, its answers, a lecturer's mark."""

    lesson_id: int
    kind: str  # quick_reply | hand | question | answer | reveal | close | mark
    at: datetime
    participant_id: str | None = None
    classroom_id: int | None = None
    name: str = ""
    question: int | None = None
    data: dict[str, object] = field(default_factory=dict)


class CatalogPort(Protocol):
    async def lesson_info(self, lesson_id: int) -> LessonInfo | None:
        """The lesson, or None when it does not exist."""
        ...

    async def lesson_infos(self, lesson_ids: Sequence[int]) -> dict[int, LessonInfo]:
        """Each of these lessons that exists (one read, for the nodes' reconciliation)."""
        ...

    async def revoked_credentials(self, credential_ids: Sequence[int]) -> dict[int, datetime]:
        """Which of these device credentials are revoked (or gone), and since when."""
        ...

    async def revoked_tokens(self, token_ids: Sequence[int]) -> set[int]:
        """Which of these issued tokens (lecturer links, staff tokens) are revoked or gone."""
        ...

    async def credential_active(self, credential_id: int) -> bool:
        """False when the device credential was revoked or does not exist."""
        ...

    async def check_grant(self, grant: Grant) -> None:
        """Raise Unauthorized unless the token's rows still exist, match and are not revoked."""
        ...

    async def attendance_joined(
        self,
        lesson_id: int,
        participant_id: str,
        role: Role,
        name: str,
        classroom_id: int | None,
        credential_id: int | None = None,
    ) -> int:
        """Record a join; returns the attendance row id."""
        ...

    async def attendance_left(
        self, attendance_id: int, quality: float | None, at: datetime | None = None
    ) -> None:
        """Record the leave time (now, or ``at``) and the average network quality (0..1)."""
        ...

    async def audio_only_began(self, attendance_id: int, at: datetime) -> int:
        """A session began receiving sound only; returns the stretch's row id."""
        ...

    async def audio_only_ended(self, interval_id: int, at: datetime) -> None:
        """The stretch in audio only ended (video again)."""
        ...

    async def attendance_seen(self, attendance_ids: Sequence[int]) -> None:
        """These rows' sessions are alive now."""
        ...

    async def close_orphaned_attendance(self) -> int:
        """Close the rows of sessions not seen for a while, at their last sight."""
        ...

    async def add_lesson_events(self, events: Sequence[LessonEvent]) -> None:
        """Keep these with their lesson (its register, chapters and exports)."""
        ...

    async def lesson_numbering(self, lesson_id: int) -> tuple[int, int]:
        """The last question number and the number of marks kept for the lesson."""
        ...


class MetricsPort(Protocol):
    """What the registry tells the hub's metrics (implemented by streamhub.metrics.HubMetrics,
    which reads the rooms: a port, so that neither package imports the other)."""

    def observe_member(
        self, member: Participant, kbps_in: float, kbps_out: float, loss: float
    ) -> None:
        """One participant's stats round."""
        ...

    def member_left(self, member: Participant) -> None: ...
