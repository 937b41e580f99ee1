"""Request and response bodies of the HTTP API. Requests refuse unknown fields."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import Path, Query
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NaiveDatetime,
    StringConstraints,
    model_validator,
)

from streamhub.catalog.models import MAX_ID
from streamhub.era import FIRST_DAY, LAST_DAY
from streamhub.protocol import DeviceHealth, ParticipantInfo, ParticipantStats

T = TypeVar("T")

# Ids beyond the catalog's (32-bit in PostgreSQL) name no row: refused up front, as are
# offsets beyond 64 bits (every database we support takes those).
MAX_OFFSET = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET)]

# Days and times of lessons: in the era (streamhub/era.py), or refused up front.
CalendarDay = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]
LessonTime = Annotated[
    AwareDatetime,
    Field(ge=datetime.combine(FIRST_DAY, time(), UTC), le=datetime.combine(LAST_DAY, time(), UTC)),
]
WallTime = Annotated[
    NaiveDatetime,
    Field(ge=datetime.combine(FIRST_DAY, time()), le=datetime.combine(LAST_DAY, time())),
]

# PostgreSQL's text cannot hold NUL (SQLite's can): text with one is refused up front.
NO_NUL = r"^[^\x00]*$"
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120, pattern=NO_NUL)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=4000, pattern=NO_NUL)
]
SearchQuery = Annotated[str | None, Query(max_length=120, pattern=NO_NUL)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------- schools


class SchoolIn(Body):
    name: Name
    region: Label = ""
    # Off: its recordings and capsules cannot be downloaded (403 downloads_off); replays stay.
    downloads_allowed: bool = True


class SchoolPatch(Body):
    name: Name | None = None
    region: Label | None = None
    downloads_allowed: bool | None = None


class SchoolOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    region: str
    created_at: datetime
    downloads_allowed: bool = True


# ---------------------------------------------------------------- classrooms


class ClassroomIn(Body):
    name: Name
    school_id: Id
    region: Label = ""


class ClassroomPatch(Body):
    name: Name | None = None
    school_id: Id | None = None
    region: Label | None = None


class ClassroomOut(BaseModel):
    id: int
    name: str
    school_id: int
    school_name: str
    region: str
    created_at: datetime


class CredentialOut(BaseModel):
    id: int
    classroom_id: int
    label: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    model_config = ConfigDict(from_attributes=True)


class CredentialIn(Body):
    label: Label = ""


class IssuedCredentialOut(BaseModel):
    credential_id: int
    classroom_id: int
    credential: str = Field(description="shown once; the hub keeps only its hash")
    agent_command: str
    classroom_page: str = Field(description="browser classroom link for this PC")


# ---------------------------------------------------------------- lessons


class LessonIn(Body):
    title: Name
    # One of the county's subjects (GET /api/subjects), by id or by name; not a retired one.
    subject: Label = ""
    subject_id: Id | None = None
    grade_id: Id | None = None
    description: Description = ""
    lecturer_name: Label = ""
    scheduled_start: LessonTime
    scheduled_end: LessonTime
    classroom_ids: list[Id] = Field(default_factory=list, max_length=1000)
    open_to_all: bool = Field(
        default=False,
        description="any classroom with the join code may join; otherwise only the invited",
    )
    school_id: Id | None = Field(
        default=None,
        description="the school whose admins manage the lesson (a school admin's: theirs)",
    )
    lecturer_account_id: Id | None = Field(
        default=None, description="the lecturer account that teaches it (sees and runs it)"
    )

    @model_validator(mode="after")
    def _order(self) -> LessonIn:
        if self.scheduled_end <= self.scheduled_start:
            raise ValueError("scheduled_end must be after scheduled_start")
        return self


class SeriesIn(Body):
    """A lesson series: one lesson per occurrence of ``rule`` (RFC 5545 RRULE, with COUNT or
    UNTIL), starting at ``first_start`` — a wall time in the county's time zone, without an
    offset — each ``duration_minutes`` long, except on ``skip_dates`` (holidays)."""

    title: Name
    subject: Label = ""
    subject_id: Id | None = None
    grade_id: Id | None = None
    description: Description = ""
    lecturer_name: Label = ""
    first_start: WallTime
    duration_minutes: int = Field(ge=1, le=600)
    rule: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=6, max_length=500, pattern=NO_NUL),
    ]
    skip_dates: list[CalendarDay] = Field(default_factory=list, max_length=400)
    classroom_ids: list[Id] = Field(default_factory=list, max_length=1000)
    open_to_all: bool = False
    # Only say which lessons it would make: nothing is written.
    dry_run: bool = False


class OccurrenceOut(BaseModel):
    scheduled_start: datetime
    scheduled_end: datetime


class SeriesOut(BaseModel):
    series: str | None  # None for a dry run
    timezone: str
    occurrences: list[OccurrenceOut]
    lessons: list[LessonOut]


class LessonPatch(Body):
    title: Name | None = None
    # "" takes the subject away.
    subject: Label | None = None
    subject_id: Id | None = None
    grade_id: Id | None = None
    description: Description | None = None
    lecturer_name: Label | None = None
    scheduled_start: LessonTime | None = None
    scheduled_end: LessonTime | None = None
    classroom_ids: list[Id] | None = Field(default=None, max_length=1000)
    open_to_all: bool | None = None
    school_id: Id | None = None
    lecturer_account_id: Id | None = None


class LessonOut(BaseModel):
    id: int
    title: str
    subject: str
    subject_id: int | None = None
    grade_id: int | None = None
    description: str = ""
    lecturer_name: str
    scheduled_start: datetime
    scheduled_end: datetime
    status: str
    # Scheduled, its end has passed and it never went live. Starting it stays possible (a
    # lesson run late); the admin page offers rescheduling instead.
    missed: bool = False
    # The series (POST /api/lessons/series) this lesson is an occurrence of.
    series: str | None = None
    join_code: str
    classroom_ids: list[int]
    open_to_all: bool
    # Who it belongs to (docs/roles.md).
    school_id: int | None = None
    lecturer_account_id: int | None = None
    started_at: datetime | None
    ended_at: datetime | None


class LessonRecordingOut(BaseModel):
    id: int
    state: str
    # The recording's page in the staff library.
    page: str


class LinkOut(BaseModel):
    token: str
    url: str
    expires_in_s: int
    token_id: int = Field(description="revoke with DELETE /api/tokens/{token_id}")


class RtmpKeyOut(BaseModel):
    server_url: str = Field(description="the encoder's server URL, rtmp://HUB:PORT/live")
    stream_key: str = Field(description="the encoder's stream key")
    url: str = Field(description="server URL and key in one (FFmpeg's output URL)")
    expires_in_s: int
    token_id: int = Field(description="revoke with DELETE /api/tokens/{token_id}")


class RtmpOut(BaseModel):
    enabled: bool = Field(description="rtmp.enabled: whether the hub takes RTMP pushes")
    server_url: str | None = None
    key: RtmpKeyOut | None = Field(default=None, description="the newest active key, if any")


class TokenOut(BaseModel):
    token: str
    expires_in_s: int
    token_id: int | None = Field(
        default=None, description="revocable tokens: DELETE /api/tokens/{token_id}"
    )


class StaffTokenIn(Body):
    label: Label = Field(default="", description="whom the token is for, shown in the list")


class IssuedTokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    lesson_id: int | None
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    # The title of the lesson a lecturer link or stream key opens (listing only).
    lesson_title: str | None = None


class ParticipantOut(ParticipantInfo):
    stats: ParticipantStats | None = None


class AttendanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    participant_id: str
    role: str
    name: str
    classroom_id: int | None
    joined_at: datetime
    left_at: datetime | None
    duration_s: float | None
    quality: float | None


class ClassroomAttendanceOut(BaseModel):
    """One line of a lesson's register: an invited classroom (or one that came to an open
    lesson), present, late, left early or absent, with its merged minutes."""

    classroom_id: int
    name: str
    school: str
    invited: bool
    status: Literal["present", "late", "left_early", "absent"]
    late: bool
    left_early: bool
    first_joined_at: datetime | None
    last_left_at: datetime | None
    minutes_present: float
    sessions: int
    drops: int
    quality: float | None
    # Of the minutes present, those it received sound only (a poor link, or hub overload).
    audio_only_minutes: float
    # What it said back (streamhub.lesson.answers_record): questions answered, quick
    # replies sent, hands raised.
    answers: int = 0
    quick_replies: int = 0
    hands: int = 0


class RoomAnswerOut(BaseModel):
    participant_id: str | None
    classroom_id: int | None
    name: str
    at: datetime
    counts: dict[str, int]
    # The room's one agreed answer, or a number question's value (else counts).
    choice: str | None
    value: float | None


class QuestionOut(BaseModel):
    number: int
    text: str
    kind: str
    options: list[str]
    opened_at: datetime
    time_limit_s: int | None
    correct: str | None
    closed_at: datetime | None
    answers: list[RoomAnswerOut]
    totals: dict[str, int]


class ClassroomEventOut(BaseModel):
    participant_id: str | None
    classroom_id: int | None
    name: str
    at: datetime
    # A quick reply's kind (cant_hear, cant_see, slower, done, help); None for a hand.
    reply: str | None = None


class MarkOut(BaseModel):
    label: str
    at: datetime


class LessonAnswersOut(BaseModel):
    """What the classrooms said back during a lesson, and the lecturer's marks."""

    lesson_id: int
    questions: list[QuestionOut]
    quick_replies: list[ClassroomEventOut]
    hands: list[ClassroomEventOut]
    marks: list[MarkOut]


# ---------------------------------------------------------------- the fleet board


class FleetCheckOut(BaseModel):
    ok: bool
    summary: str
    checked_at: datetime


class FleetLessonOut(BaseModel):
    id: int
    title: str
    status: str
    scheduled_start: datetime


class FleetRowOut(BaseModel):
    """A classroom and its PC. ``problems``: ``not_enrolled`` (no active device credential),
    ``offline`` (not heard from within ``online_within_s``), ``<device>_missing``,
    ``check_failed`` (its latest ``classroom-agent doctor``)."""

    classroom_id: int
    classroom: str
    school_id: int
    school: str
    online: bool
    last_seen_at: datetime | None
    agent: str
    devices: DeviceHealth | None
    devices_at: datetime | None
    check: FleetCheckOut | None
    next_lesson: FleetLessonOut | None
    problems: list[str]


class FleetOut(BaseModel):
    online_within_s: float
    classrooms: list[FleetRowOut]


# ---------------------------------------------------------------- classroom PCs


class DeviceTokenIn(Body):
    lesson_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{4,16}$")] | None = None
    # The PC's devices, for the lecturer's roster (a classroom page sends its camera and mic).
    devices: DeviceHealth | None = None


class DeviceTokenOut(BaseModel):
    token: str
    lesson_id: int
    lesson_code: str
    lesson_title: str
    expires_in_s: int


class DeviceLessonsOut(BaseModel):
    classroom_id: int
    classroom_name: str
    lessons: list[LessonOut]
