"""SQLAlchemy 2 models of the catalog. The schema is created by the Alembic migration in
``migrations/versions``; a test checks the two agree."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_key() -> str:
    """A row's random key. Tokens name the row by id *and* key, so a token issued for a row
    that was deleted never opens another row, whatever the database does with ids."""
    return secrets.token_hex(16)


# The largest id a row can have: ids are INTEGER columns, 32-bit in PostgreSQL (64-bit in
# SQLite). A larger id names no row; asking PostgreSQL for one is an error, not a miss.
MAX_ID = 2**31 - 1
# The longest participant name an attendance row (and a token) holds.
NAME_MAX = 120

# SQLite's default rowid reuses the id of the newest deleted row; AUTOINCREMENT
# (sqlite_sequence) never does, as PostgreSQL sequences never do.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back aware datetimes (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


def _key_column() -> Mapped[str]:
    return mapped_column(String(32), default=new_key)


lesson_invites = Table(
    "lesson_invites",
    Base.metadata,
    Column("lesson_id", ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True),
    Column("classroom_id", ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True),
)


class School(Base):
    __tablename__ = "schools"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Whether its recordings and capsules may be downloaded (replays stay open either way).
    downloads_allowed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Subject(Base):
    """A subject lessons are taught in (数学, 语文 …), managed by the county: renamed or retired,
    never deleted (lessons keep theirs). ``lessons.subject`` holds its current name too."""

    __tablename__ = "subjects"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # The name as compared (NFKC, case and spacing folded): no two subjects share it.
    name_key: Mapped[str] = mapped_column(String(120), unique=True)
    # Retired: kept on its lessons and in the library's filters, offered for no new lesson.
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Grade(Base):
    """A grade (七年级, 高一 …), managed as subjects are; listed in the order they were added."""

    __tablename__ = "grades"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    name_key: Mapped[str] = mapped_column(String(120), unique=True)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Classroom(Base):
    __tablename__ = "classrooms"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    row_key: Mapped[str] = _key_column()

    school: Mapped[School] = relationship(lazy="joined")


class Lesson(Base):
    __tablename__ = "lessons"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    # The subject's name, kept in step with ``subject_id`` (renaming a subject renames it here):
    # exports, feeds and calendars read it as they always did.
    subject: Mapped[str] = mapped_column(String(120), default="", index=True)
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL"), nullable=True, index=True
    )
    grade_id: Mapped[int | None] = mapped_column(
        ForeignKey("grades.id", ondelete="SET NULL"), nullable=True, index=True
    )
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    lecturer_name: Mapped[str] = mapped_column(String(120), default="", index=True)
    scheduled_start: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    scheduled_end: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    join_code: Mapped[str] = mapped_column(String(16), unique=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    row_key: Mapped[str] = _key_column()
    # Open to every classroom that knows the join code. Never inferred from an empty invite
    # list: deleting the last invited classroom must not open a lesson to everyone.
    open_to_all: Mapped[bool] = mapped_column(Boolean, default=False)
    # The series (one recurrence rule) this lesson is an occurrence of, if any.
    series: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # Who the lesson belongs to (docs/roles.md): the school whose admins manage it (none: the
    # county's), and the lecturer account that teaches it.
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="SET NULL"), nullable=True, index=True
    )
    lecturer_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True, index=True
    )

    classrooms: Mapped[list[Classroom]] = relationship(secondary=lesson_invites, lazy="selectin")


class Account(Base):
    """A person who signs in: a county admin, a school admin, a lecturer or staff
    (docs/roles.md)."""

    __tablename__ = "accounts"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    # The sign-in name (an email address as a rule), stripped and lower-cased.
    login: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(16), index=True)
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # argon2id (PHC string); none for an account that signs in by links only.
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Session tokens carry it: a new one (a password change) ends every earlier session.
    session_key: Mapped[str] = _key_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class SignInLink(Base):
    """A one-time sign-in link: its secret stored hashed, used once, short-lived."""

    __tablename__ = "sign_in_links"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of a 256-bit random secret (as device credentials).
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class DeviceCredential(Base):
    __tablename__ = "device_credentials"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of a 256-bit random secret: a slow password hash buys nothing for such entropy.
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # What the PC last said of itself, for the fleet board: its agent, version and system
    # (User-Agent), and its devices as JSON (camera, microphone, speaker, display).
    agent: Mapped[str] = mapped_column(String(160), default="", server_default="")
    devices: Mapped[str] = mapped_column(String(200), default="", server_default="")
    devices_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Attendance(Base):
    __tablename__ = "attendance"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    classroom_id: Mapped[int | None] = mapped_column(
        ForeignKey("classrooms.id", ondelete="SET NULL"), nullable=True
    )
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    quality: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The node holding the session writes this every few seconds: a session that a crash
    # ended is closed at the last time it was seen alive, not when someone notices.
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The device credential a classroom joined with: its revocation ends the attendance.
    credential_id: Mapped[int | None] = mapped_column(nullable=True)


class AudioOnlyInterval(Base):
    """A stretch of one session's time in audio only (its agent asked, on a poor link, or the
    hub shed its video when overloaded). One still open ends when its session ended."""

    __tablename__ = "audio_only_intervals"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    attendance_id: Mapped[int] = mapped_column(
        ForeignKey("attendance.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    # recording | finalizing | ready | failed
    state: Mapped[str] = mapped_column(String(16), default="recording", index=True)
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    # Relative to the recordings folder, chosen by the recorder: never taken from a request.
    directory: Mapped[str] = mapped_column(String(200))
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    has_screen: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The hub node writing the segments: when it is gone, any node finalizes them.
    node_id: Mapped[str] = mapped_column(String(128), default="", server_default="")
    # The recording stopped before the lesson ended (e.g. a full disk): what is on disk was
    # kept; ``note`` says why, and is also where a waiting finalize says what it waits for.
    partial: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    row_key: Mapped[str] = _key_column()

    lesson: Mapped[Lesson] = relationship(lazy="joined")


class ConnectionCheck(Base):
    """A classroom PC's `classroom-agent doctor` result, shown to admins for its classroom."""

    __tablename__ = "connection_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("device_credentials.id", ondelete="SET NULL"), nullable=True
    )
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    # The report's lines as JSON (validated by the API before it is stored).
    report: Mapped[str] = mapped_column(Text, default="")


class IssuedToken(Base):
    """A long-lived token handed to a person (a lecturer's link, a staff token): listed and
    revocable. The token carries this row's id and its ``jti``; a token whose row is gone or
    revoked is refused, and its live sessions are closed."""

    __tablename__ = "issued_tokens"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # lecturer_link | rtmp_key | staff
    lesson_id: Mapped[int | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), nullable=True, index=True
    )
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class FeedEvent(Base):
    """An event of the county's data feed (lesson started and ended, recording ready,
    attendance final, a classroom dropped during a lesson): read by pull
    (``GET /api/events``) and pushed to webhooks. Ids only grow: a reader resumes after the
    last id it saw."""

    __tablename__ = "feed_events"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    lesson_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    # The event's body as JSON (what a webhook receives under "data").
    data: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Webhook(Base):
    """An address that receives the feed's events, signed with its own secret."""

    __tablename__ = "webhooks"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    # The signing secret itself: the hub must compute signatures with it (shown once).
    secret: Mapped[str] = mapped_column(String(64))
    # Space-separated event types, or "*" for all.
    events: Mapped[str] = mapped_column(String(400), default="*")
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook: retried with back-off until the receiver answers 2xx or
    the attempts run out. Its id is the delivery id receivers deduplicate on."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("feed_events.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    # A node sending it holds it until then: two nodes never send one delivery at once.
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class CalendarFeed(Base):
    """An iCalendar feed of one classroom's or one lecturer's lessons, read by calendar apps at
    ``/calendar/<token>.ics``. Only the token's hash is kept: deleting the row revokes it."""

    __tablename__ = "calendar_feeds"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # classroom | lecturer
    classroom_id: Mapped[int | None] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), nullable=True, index=True
    )
    lecturer_name: Mapped[str] = mapped_column(String(120), default="")
    # SHA-256 of a 192-bit random token: as for device credentials, a slow hash buys nothing.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class LessonEventRow(Base):
    """What a lesson's members did that is kept with it: a classroom's quick reply, raised
    hand or answer, the lecturer's questions (opened, revealed, closed) and marks. The
    register counts them, the recording's chapters and the per-lesson export read them."""

    __tablename__ = "lesson_events"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    # quick_reply | hand | question | answer | reveal | close | mark
    kind: Mapped[str] = mapped_column(String(16))
    participant_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    classroom_id: Mapped[int | None] = mapped_column(
        ForeignKey("classrooms.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    # The question's number in its lesson (question, answer, reveal, close).
    question: Mapped[int | None] = mapped_column(nullable=True)
    # The rest as JSON: a reply's kind, an answer's counts, a question's text and options.
    data: Mapped[str] = mapped_column(Text, default="{}")


class Capsule(Base):
    """A knowledge capsule: a short clip cut from a lesson's recording, with its own files.
    It outlives the recording and the lesson: what it shows and who may see it (school,
    lecturer account) is copied here, and its links to them only go NULL."""

    __tablename__ = "capsules"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="SET NULL"), nullable=True, index=True
    )
    lesson_id: Mapped[int | None] = mapped_column(
        ForeignKey("lessons.id", ondelete="SET NULL"), nullable=True, index=True
    )
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="SET NULL"), nullable=True, index=True
    )
    lecturer_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_by_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True
    )
    lesson_title: Mapped[str] = mapped_column(String(200), default="")
    lecturer_name: Mapped[str] = mapped_column(String(120), default="")
    title: Mapped[str] = mapped_column(String(200))
    # The names shown, in step with the ids (a rename renames them here); a capsule cut before
    # subjects and grades were lists keeps its free text with no id.
    subject: Mapped[str] = mapped_column(String(120), default="", index=True)
    grade: Mapped[str] = mapped_column(String(60), default="", index=True)
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL"), nullable=True, index=True
    )
    grade_id: Mapped[int | None] = mapped_column(
        ForeignKey("grades.id", ondelete="SET NULL"), nullable=True, index=True
    )
    knowledge_point: Mapped[str] = mapped_column(String(200), default="", index=True)
    # Where the ends came from: player | chapter | marker | question, and its label.
    source: Mapped[str] = mapped_column(String(16), default="player")
    source_label: Mapped[str] = mapped_column(String(200), default="")
    # On the recording's timeline: asked for, and where the clip really starts (a snapped
    # start is the key frame before the one asked for).
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    requested_start_s: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    reencoded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Relative to the recordings folder (under capsules/), chosen by the hub.
    directory: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    has_poster: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    row_key: Mapped[str] = _key_column()

    tags: Mapped[list[CapsuleTag]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="CapsuleTag.tag"
    )


class CapsuleTag(Base):
    __tablename__ = "capsule_tags"

    capsule_id: Mapped[int] = mapped_column(
        ForeignKey("capsules.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(60), primary_key=True, index=True)


class WatchSession(Base):
    """One player's replay of a recording or a capsule. ``viewer`` is a keyed hash of the
    account or token that watched: views per viewer can be counted, nobody named."""

    __tablename__ = "watch_sessions"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), nullable=True, index=True
    )
    capsule_id: Mapped[int | None] = mapped_column(
        ForeignKey("capsules.id", ondelete="CASCADE"), nullable=True, index=True
    )
    viewer: Mapped[str] = mapped_column(String(64), index=True)
    # The player's own random id for this replay: its batches add to one session.
    client_key: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Its last batch: the data feed's replay.summary reports what changed since the last one.
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class WatchRange(Base):
    """A stretch of the timeline a session played (every play of it counts: re-watching)."""

    __tablename__ = "watch_ranges"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("watch_sessions.id", ondelete="CASCADE"), index=True
    )
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)


class SearchEntry(Base):
    """One searchable text of a lesson (its title, description, a chapter of a recording …):
    the library's search index (streamhub/catalog/search.py writes it, one function per
    source). SQLite searches ``folded`` through an FTS5 trigram table, PostgreSQL through a
    pg_trgm index; both are made by the migration, not described here."""

    __tablename__ = "search_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    # Set for what belongs to one recording (its chapters): it finds that recording only.
    recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), nullable=True, index=True
    )
    source: Mapped[str] = mapped_column(String(24))
    weight: Mapped[int] = mapped_column(default=1)
    # Where in the recording (a chapter's start), seconds.
    at_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    # ``text`` as searched: NFKC, case folded.
    folded: Mapped[str] = mapped_column(Text)


class AccessEntry(Base):
    """Who watched or downloaded what, when and from where (a replay, a download, a capsule
    view). No foreign keys: the log outlives what it names, so the title is copied here."""

    __tablename__ = "access_log"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # replay | download | capsule_view
    action: Mapped[str] = mapped_column(String(16))
    # account:<id>, token:<subject> or admin-key, and the name shown for it.
    who: Mapped[str] = mapped_column(String(160))
    who_name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    recording_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    capsule_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    school_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    # The client's address as the hub sees it (behind a trusted proxy: the forwarded one).
    client_ip: Mapped[str] = mapped_column(String(64), default="")


class RetentionPolicy(Base):
    """Keep recordings this many days: for a school, a subject, both, or (neither) the
    county's default. The most specific policy that matches a recording holds."""

    __tablename__ = "retention_policies"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), nullable=True, index=True
    )
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    keep_days: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
