"""The catalog store: one async SQLAlchemy engine, migrated on open, with the queries the
API, the live rooms and the recorder need. SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, and_, delete, event, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from streamhub.auth.tokens import Grant
from streamhub.catalog.models import (
    Attendance,
    Classroom,
    ConnectionCheck,
    DeviceCredential,
    IssuedToken,
    Lesson,
    Recording,
    School,
    lesson_invites,
    utcnow,
)
from streamhub.config import Settings
from streamhub.errors import Conflict, ErrorCode, NotFound, Unauthorized
from streamhub.lesson.ports import LessonInfo
from streamhub.protocol import Role

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# No 0/O or 1/I/L: join codes are read aloud and typed by hand in classrooms.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CREDENTIAL_PREFIX = "dc_"
# Connection checks kept per classroom (older ones are deleted as new ones arrive).
CHECKS_KEPT = 20
# Beats an attendance row may miss before its session counts as ended by a crash.
ATTENDANCE_MISSED_BEATS = 3
# The bindings every token of a role must carry (Catalog.check_grant).
REQUIRED_BINDINGS: dict[Role, tuple[str, ...]] = {
    Role.LECTURER: ("lesson", "lesson_key", "token_id"),
    Role.CLASSROOM: ("lesson", "lesson_key", "classroom_id", "classroom_key", "credential_id"),
    Role.RECORDER: ("lesson", "lesson_key"),
    Role.STAFF: ("token_id",),
}

T = TypeVar("T")
M = TypeVar("M")
R = TypeVar("R", DeviceCredential, IssuedToken)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int


@dataclass(frozen=True)
class IssuedCredential:
    id: int
    classroom_id: int
    secret: str  # the full credential string, shown once


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _run_migrations(connection: Connection) -> None:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


class Catalog:
    def __init__(self, engine: AsyncEngine, attendance_stale_s: float = 15.0) -> None:
        self.engine = engine
        self.session = async_sessionmaker(engine, expire_on_commit=False)
        # An open attendance row not marked seen for this long belongs to a session that a
        # crash ended (its node marks it every ``attendance_seen_every_s``).
        self.attendance_stale_s = attendance_stale_s

    @classmethod
    async def open(cls, settings: Settings) -> Catalog:
        url = settings.effective_database_url
        # SQLite: writers queue for the file lock instead of failing during a join storm.
        sqlite = url.startswith("sqlite")
        connect_args = {"timeout": 30} if sqlite else {}
        # Migrations run on connections of their own, without the foreign-key pragma: SQLite
        # changes a table by recreating it, and dropping the old one would cascade.
        migrator = create_async_engine(url, connect_args=connect_args)
        try:
            async with migrator.begin() as connection:
                await connection.run_sync(_run_migrations)
        finally:
            await migrator.dispose()
        engine = create_async_engine(url, connect_args=connect_args)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine, ATTENDANCE_MISSED_BEATS * settings.attendance_seen_every_s)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    # ------------------------------------------------------------ generic helpers

    async def _get(self, model: type[M], ident: int) -> M:
        async with self.session() as session:
            row = await session.get(model, ident)
        if row is None:
            raise NotFound(f"no {model.__name__.lower()} with id {ident}")
        return row

    async def _page(self, query: Any, limit: int, offset: int) -> Page[Any]:
        async with self.session() as session:
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = (await session.scalars(query.limit(limit).offset(offset))).unique().all()
        return Page(list(rows), int(total or 0))

    async def _update(self, model: type[M], ident: int, changes: dict[str, Any]) -> M:
        async with self.session() as session, session.begin():
            row = await session.get(model, ident)
            if row is None:
                raise NotFound(f"no {model.__name__.lower()} with id {ident}")
            for key, value in changes.items():
                setattr(row, key, value)
        return row

    async def _revoke(self, model: type[R], ident: int, noun: str) -> R:
        """Set ``revoked_at`` once (revoking twice keeps the first time)."""
        async with self.session() as session, session.begin():
            row = await session.get(model, ident)
            if row is None:
                raise NotFound(f"no {noun} with id {ident}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
        return row

    async def _delete(self, model: type[Any], ident: int) -> None:
        async with self.session() as session, session.begin():
            row = await session.get(model, ident)
            if row is None:
                raise NotFound(f"no {model.__name__.lower()} with id {ident}")
            await session.delete(row)

    # ------------------------------------------------------------ schools

    async def create_school(self, name: str, region: str = "") -> School:
        school = School(name=name, region=region)
        async with self.session() as session, session.begin():
            session.add(school)
        return school

    async def get_school(self, school_id: int) -> School:
        return await self._get(School, school_id)

    async def list_schools(self, limit: int, offset: int) -> Page[School]:
        return await self._page(select(School).order_by(School.id), limit, offset)

    async def update_school(self, school_id: int, changes: dict[str, Any]) -> School:
        return await self._update(School, school_id, changes)

    async def delete_school(self, school_id: int) -> None:
        await self._delete(School, school_id)

    # ------------------------------------------------------------ classrooms

    async def create_classroom(self, school_id: int, name: str, region: str) -> Classroom:
        await self.get_school(school_id)
        async with self.session() as session, session.begin():
            room = Classroom(school_id=school_id, name=name, region=region)
            session.add(room)
        return await self.get_classroom(room.id)

    async def get_classroom(self, classroom_id: int) -> Classroom:
        return await self._get(Classroom, classroom_id)

    async def list_classrooms(
        self, limit: int, offset: int, school_id: int | None = None
    ) -> Page[Classroom]:
        query = select(Classroom).order_by(Classroom.id)
        if school_id is not None:
            query = query.where(Classroom.school_id == school_id)
        return await self._page(query, limit, offset)

    async def update_classroom(self, classroom_id: int, changes: dict[str, Any]) -> Classroom:
        if "school_id" in changes:
            await self.get_school(changes["school_id"])
        await self._update(Classroom, classroom_id, changes)
        return await self.get_classroom(classroom_id)

    async def delete_classroom(self, classroom_id: int) -> None:
        await self._delete(Classroom, classroom_id)

    # ------------------------------------------------------------ lessons

    async def _classrooms(self, session: AsyncSession, ids: Sequence[int]) -> list[Classroom]:
        wanted = set(ids)
        rows = list(
            (await session.scalars(select(Classroom).where(Classroom.id.in_(wanted)))).all()
        )
        missing = wanted - {r.id for r in rows}
        if missing:
            raise NotFound(f"no classroom with id {sorted(missing)[0]}")
        return rows

    async def create_lesson(
        self,
        *,
        title: str,
        subject: str,
        lecturer_name: str,
        scheduled_start: datetime,
        scheduled_end: datetime,
        classroom_ids: Sequence[int],
        open_to_all: bool = False,
    ) -> Lesson:
        for _ in range(8):
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
            try:
                async with self.session() as session, session.begin():
                    lesson = Lesson(
                        title=title,
                        subject=subject,
                        lecturer_name=lecturer_name,
                        scheduled_start=scheduled_start,
                        scheduled_end=scheduled_end,
                        status="scheduled",
                        join_code=code,
                        open_to_all=open_to_all,
                    )
                    lesson.classrooms = await self._classrooms(session, classroom_ids)
                    session.add(lesson)
            except IntegrityError:
                continue  # join code collision: draw another
            return lesson
        raise Conflict("could not allocate a join code")

    async def get_lesson(self, lesson_id: int) -> Lesson:
        return await self._get(Lesson, lesson_id)

    async def lesson_by_code(self, code: str) -> Lesson:
        async with self.session() as session:
            lesson = await session.scalar(select(Lesson).where(Lesson.join_code == code.upper()))
        if lesson is None:
            raise NotFound("no lesson with this join code")
        return lesson

    async def list_lessons(
        self,
        limit: int,
        offset: int,
        status: str | None = None,
        classroom_id: int | None = None,
    ) -> Page[Lesson]:
        query = select(Lesson).order_by(Lesson.scheduled_start, Lesson.id)
        if status is not None:
            query = query.where(Lesson.status == status)
        if classroom_id is not None:
            query = query.join(lesson_invites).where(lesson_invites.c.classroom_id == classroom_id)
        return await self._page(query, limit, offset)

    async def classroom_timetable(
        self, classroom_id: int, ended_after: datetime, limit: int = 200
    ) -> list[Lesson]:
        """The classroom's live lessons and its scheduled ones ending after ``ended_after``,
        soonest first (filtered in SQL: a classroom's past lessons grow without bound)."""
        query = (
            select(Lesson)
            .join(lesson_invites)
            .where(lesson_invites.c.classroom_id == classroom_id)
            .where(
                or_(
                    Lesson.status == "live",
                    and_(Lesson.status == "scheduled", Lesson.scheduled_end >= ended_after),
                )
            )
            .order_by(Lesson.scheduled_start, Lesson.id)
            .limit(limit)
        )
        async with self.session() as session:
            return list((await session.scalars(query)).unique().all())

    async def update_lesson(self, lesson_id: int, changes: dict[str, Any]) -> Lesson:
        async with self.session() as session, session.begin():
            lesson = await session.get(Lesson, lesson_id)
            if lesson is None:
                raise NotFound(f"no lesson with id {lesson_id}")
            if lesson.status == "ended":
                raise Conflict("an ended lesson cannot be edited", code=ErrorCode.LESSON_ENDED)
            ids = changes.pop("classroom_ids", None)
            if ids is not None:
                lesson.classrooms = await self._classrooms(session, ids)
            for key, value in changes.items():
                setattr(lesson, key, value)
            if lesson.scheduled_end <= lesson.scheduled_start:
                raise Conflict("the lesson must end after it starts", code=ErrorCode.BAD_SCHEDULE)
        return lesson

    async def delete_lesson(self, lesson_id: int) -> None:
        lesson = await self.get_lesson(lesson_id)
        if lesson.status == "live":
            raise Conflict("end the lesson before deleting it", code=ErrorCode.LESSON_LIVE)
        await self._delete(Lesson, lesson_id)

    async def set_lesson_status(self, lesson_id: int, status: str) -> Lesson:
        async with self.session() as session, session.begin():
            lesson = await session.get(Lesson, lesson_id)
            if lesson is None:
                raise NotFound(f"no lesson with id {lesson_id}")
            allowed = {"live": {"scheduled", "live"}, "ended": {"live", "scheduled", "ended"}}
            if lesson.status not in allowed[status]:
                raise Conflict(
                    f"a lesson that is {lesson.status} cannot become {status}",
                    code=ErrorCode.LESSON_ENDED if lesson.status == "ended" else ErrorCode.CONFLICT,
                )
            if status == "live" and lesson.started_at is None:
                lesson.started_at = utcnow()
            if status == "ended" and lesson.ended_at is None:
                lesson.ended_at = utcnow()
            lesson.status = status
        return lesson

    @staticmethod
    def info(lesson: Lesson) -> LessonInfo:
        return LessonInfo(
            id=lesson.id,
            title=lesson.title,
            subject=lesson.subject,
            lecturer_name=lesson.lecturer_name,
            join_code=lesson.join_code,
            status=lesson.status,
            invited_classroom_ids=frozenset(c.id for c in lesson.classrooms),
            open_to_all=lesson.open_to_all,
            row_key=lesson.row_key,
        )

    async def lesson_info(self, lesson_id: int) -> LessonInfo | None:
        async with self.session() as session:
            lesson = await session.get(Lesson, lesson_id)
        return None if lesson is None else self.info(lesson)

    async def lesson_statuses(self, lesson_ids: Sequence[int]) -> dict[int, str]:
        """The status of each of these lessons that still exists (one query, for the nodes'
        reconciliation of the rooms they hold)."""
        if not lesson_ids:
            return {}
        async with self.session() as session:
            query = select(Lesson.id, Lesson.status).where(Lesson.id.in_(list(lesson_ids)))
            return {row.id: row.status for row in (await session.execute(query)).all()}

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

    async def revoked_tokens(self, token_ids: Sequence[int]) -> set[int]:
        """Which of these issued tokens (lecturer links, staff tokens) are revoked or gone."""
        if not token_ids:
            return set()
        wanted = set(token_ids)
        async with self.session() as session:
            query = select(IssuedToken.id, IssuedToken.revoked_at).where(IssuedToken.id.in_(wanted))
            found = {row.id: row.revoked_at for row in (await session.execute(query)).all()}
        return (wanted - set(found)) | {ident for ident, at in found.items() if at is not None}

    async def live_lessons(self) -> list[LessonInfo]:
        async with self.session() as session:
            rows = (await session.scalars(select(Lesson).where(Lesson.status == "live"))).all()
        return [self.info(r) for r in rows]

    # ------------------------------------------------------------ device credentials

    async def issue_credential(self, classroom_id: int, label: str = "") -> IssuedCredential:
        await self.get_classroom(classroom_id)
        secret = secrets.token_urlsafe(32)
        async with self.session() as session, session.begin():
            row = DeviceCredential(
                classroom_id=classroom_id, secret_hash=_hash(secret), label=label
            )
            session.add(row)
        return IssuedCredential(row.id, classroom_id, f"{CREDENTIAL_PREFIX}{row.id}_{secret}")

    async def list_credentials(self, classroom_id: int) -> list[DeviceCredential]:
        await self.get_classroom(classroom_id)
        async with self.session() as session:
            query = select(DeviceCredential).where(DeviceCredential.classroom_id == classroom_id)
            return list((await session.scalars(query.order_by(DeviceCredential.id))).all())

    async def verify_credential(self, credential: str) -> DeviceCredential:
        """The active credential this string proves, or Unauthorized (revoked or unknown)."""
        ident, _, secret = credential.removeprefix(CREDENTIAL_PREFIX).partition("_")
        well_formed = ident.isascii() and ident.isdigit() and len(ident) <= 18
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
        return row

    async def revoke_credential(self, credential_id: int) -> DeviceCredential:
        return await self._revoke(DeviceCredential, credential_id, "device credential")

    async def credential_active(self, credential_id: int) -> bool:
        async with self.session() as session:
            row = await session.get(DeviceCredential, credential_id)
        return row is not None and row.revoked_at is None

    # ------------------------------------------------------------ issued tokens

    async def issue_token_row(
        self, kind: str, ttl_s: int, lesson_id: int | None = None, label: str = ""
    ) -> IssuedToken:
        row = IssuedToken(
            jti=secrets.token_hex(16),
            kind=kind,
            lesson_id=lesson_id,
            label=label,
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
        async with self.session() as session, session.begin():
            session.add(row)
        return row

    async def list_issued_tokens(
        self, kind: str | None = None, lesson_id: int | None = None, active_only: bool = False
    ) -> list[IssuedToken]:
        query = select(IssuedToken).order_by(IssuedToken.id.desc())
        if kind is not None:
            query = query.where(IssuedToken.kind == kind)
        if lesson_id is not None:
            query = query.where(IssuedToken.lesson_id == lesson_id)
        if active_only:
            query = query.where(IssuedToken.revoked_at.is_(None), IssuedToken.expires_at > utcnow())
        async with self.session() as session:
            return list((await session.scalars(query.limit(1000))).all())

    async def get_issued_token(self, token_id: int) -> IssuedToken:
        return await self._get(IssuedToken, token_id)

    async def revoke_issued_token(self, token_id: int) -> IssuedToken:
        return await self._revoke(IssuedToken, token_id, "issued token")

    async def check_grant(self, grant: Grant) -> None:
        """Raise Unauthorized unless every row the token is bound to still exists, is the row
        it was issued for, and is not revoked (one read per binding, one session)."""
        required = REQUIRED_BINDINGS.get(grant.role, ())
        if any(getattr(grant, name) is None for name in required):
            raise Unauthorized(
                "this token predates row binding; ask for a new one", code=ErrorCode.TOKEN_INVALID
            )
        stale = Unauthorized(
            "the lesson, classroom or link this token was issued for no longer exists",
            code=ErrorCode.TOKEN_STALE,
        )
        async with self.session() as session:
            if grant.lesson_key is not None:
                lesson = await session.get(Lesson, grant.lesson)
                if lesson is None or not hmac.compare_digest(lesson.row_key, grant.lesson_key):
                    raise stale
            if grant.classroom_key is not None:
                room = await session.get(Classroom, grant.classroom_id)
                if room is None or not hmac.compare_digest(room.row_key, grant.classroom_key):
                    raise stale
            if grant.credential_id is not None:
                credential = await session.get(DeviceCredential, grant.credential_id)
                if credential is None or credential.classroom_id != grant.classroom_id:
                    raise stale
                if credential.revoked_at is not None:
                    raise Unauthorized(
                        "the device credential was revoked", code=ErrorCode.CREDENTIAL_REVOKED
                    )
            if grant.token_id is not None:
                issued = await session.get(IssuedToken, grant.token_id)
                if issued is None or not hmac.compare_digest(issued.jti, grant.jti):
                    raise stale
                if issued.revoked_at is not None:
                    raise Unauthorized("this token was revoked", code=ErrorCode.TOKEN_REVOKED)

    # ------------------------------------------------------------ attendance

    async def attendance_joined(
        self,
        lesson_id: int,
        participant_id: str,
        role: Role,
        name: str,
        classroom_id: int | None,
        credential_id: int | None = None,
    ) -> int:
        now = utcnow()
        row = Attendance(
            lesson_id=lesson_id,
            participant_id=participant_id,
            role=role.value,
            name=name,
            classroom_id=classroom_id,
            credential_id=credential_id,
            joined_at=now,
            last_seen_at=now,
        )
        async with self.session() as session, session.begin():
            session.add(row)
        return row.id

    async def attendance_left(
        self, attendance_id: int, quality: float | None, at: datetime | None = None
    ) -> None:
        async with self.session() as session, session.begin():
            row = await session.get(Attendance, attendance_id)
            if row is not None and row.left_at is None:
                # A session that outlived its credential's revocation ended at the revocation.
                revoked = await self._revocations(session, [row])
                row.left_at = _closing_time(row, at or utcnow(), float("inf"), revoked)
                row.quality = quality

    async def attendance(self, lesson_id: int) -> list[Attendance]:
        await self.get_lesson(lesson_id)
        async with self.session() as session:
            query = (
                select(Attendance)
                .where(Attendance.lesson_id == lesson_id)
                .order_by(Attendance.joined_at, Attendance.id)
            )
            return list((await session.scalars(query)).all())

    async def close_open_attendance(self, lesson_id: int) -> None:
        """Lesson end closes the rows of everyone still listed: at once for a session seen
        alive lately, at the last time it was seen for one a crash ended, and at the
        revocation for a classroom whose credential was revoked."""
        now = utcnow()
        async with self.session() as session, session.begin():
            query = select(Attendance).where(
                Attendance.lesson_id == lesson_id, Attendance.left_at.is_(None)
            )
            rows = (await session.scalars(query)).all()
            revoked = await self._revocations(session, rows)
            for row in rows:
                row.left_at = _closing_time(row, now, self.attendance_stale_s, revoked)

    async def attendance_seen(self, attendance_ids: Sequence[int]) -> None:
        """The sessions of these rows are alive now. A row that a sweep closed at its last
        sight (its node could not write for a while) is open again."""
        if not attendance_ids:
            return
        now = utcnow()
        async with self.session() as session, session.begin():
            query = select(Attendance).where(Attendance.id.in_(list(attendance_ids)))
            for row in (await session.scalars(query)).all():
                if row.left_at is not None and row.left_at != row.last_seen_at:
                    continue  # left for good
                row.left_at = None
                row.last_seen_at = now

    async def close_orphaned_attendance(self) -> int:
        """Close the open rows whose session has not been seen for ``attendance_stale_s`` (its
        node crashed or lost the catalog) at the last time it was seen; returns how many."""
        now = utcnow()
        stale_after_s = self.attendance_stale_s
        cutoff = now - timedelta(seconds=stale_after_s)
        async with self.session() as session, session.begin():
            query = select(Attendance).where(
                Attendance.left_at.is_(None),
                Attendance.last_seen_at.is_not(None),
                Attendance.last_seen_at < cutoff,
            )
            rows = (await session.scalars(query)).all()
            revoked = await self._revocations(session, rows)
            for row in rows:
                row.left_at = _closing_time(row, now, stale_after_s, revoked)
        return len(rows)

    @staticmethod
    async def _revocations(
        session: AsyncSession, rows: Sequence[Attendance]
    ) -> dict[int, datetime]:
        ids = {r.credential_id for r in rows if r.credential_id is not None}
        if not ids:
            return {}
        query = select(DeviceCredential).where(
            DeviceCredential.id.in_(ids), DeviceCredential.revoked_at.is_not(None)
        )
        return {c.id: c.revoked_at for c in (await session.scalars(query)).all() if c.revoked_at}

    # ------------------------------------------------------------ recordings

    async def create_recording(self, lesson_id: int, directory: str) -> Recording:
        async with self.session() as session, session.begin():
            row = Recording(
                lesson_id=lesson_id,
                directory=directory,
                state="recording",
                failure_reason="",
                started_at=utcnow(),
                duration_s=0.0,
                size_bytes=0,
                progress=0.0,
                has_screen=False,
            )
            session.add(row)
        return await self.get_recording(row.id)

    async def get_recording(self, recording_id: int) -> Recording:
        return await self._get(Recording, recording_id)

    async def update_recording(self, recording_id: int, **changes: Any) -> Recording:
        await self._update(Recording, recording_id, changes)
        return await self.get_recording(recording_id)

    async def claim_recording(self, recording_id: int, holder: str, claimant: str) -> bool:
        """Make ``claimant`` the node of a recording still held by ``holder`` (compare and
        set: of several nodes adopting a dead node's recording, one wins)."""
        async with self.session() as session, session.begin():
            result = await session.execute(
                update(Recording)
                .where(Recording.id == recording_id, Recording.node_id == holder)
                .values(node_id=claimant)
            )
        return bool(getattr(result, "rowcount", 0))

    async def lesson_recordings(self, lesson_id: int) -> list[Recording]:
        """A lesson's recordings, oldest first (a hub restarted mid-lesson starts another)."""
        async with self.session() as session:
            query = select(Recording).where(Recording.lesson_id == lesson_id)
            return list((await session.scalars(query.order_by(Recording.id))).unique().all())

    async def recordings_in_state(self, *states: str) -> list[Recording]:
        async with self.session() as session:
            query = select(Recording).where(Recording.state.in_(states)).order_by(Recording.id)
            return list((await session.scalars(query)).unique().all())

    async def list_recordings(
        self,
        limit: int,
        offset: int,
        *,
        subject: str | None = None,
        lecturer: str | None = None,
        classroom_id: int | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        q: str | None = None,
    ) -> Page[Recording]:
        query = select(Recording).join(Lesson).order_by(Recording.started_at.desc(), Recording.id)
        if subject:
            query = query.where(func.lower(Lesson.subject) == subject.lower())
        if lecturer:
            query = query.where(func.lower(Lesson.lecturer_name) == lecturer.lower())
        if q:
            query = query.where(Lesson.title.ilike(f"%{q}%"))
        if classroom_id is not None:
            query = query.where(
                Lesson.id.in_(
                    select(lesson_invites.c.lesson_id).where(
                        lesson_invites.c.classroom_id == classroom_id
                    )
                )
            )
        if date_from is not None:
            query = query.where(Recording.started_at >= date_from)
        if date_to is not None:
            query = query.where(Recording.started_at < date_to)
        return await self._page(query, limit, offset)

    async def delete_recording(self, recording_id: int) -> Recording:
        row = await self.get_recording(recording_id)
        await self._delete(Recording, recording_id)
        return row

    # ------------------------------------------------------------ connection checks

    async def add_connection_check(
        self, classroom_id: int, credential_id: int | None, ok: bool, summary: str, report: str
    ) -> ConnectionCheck:
        """Store a doctor result; keep the last ``CHECKS_KEPT`` of the classroom."""
        async with self.session() as session, session.begin():
            row = ConnectionCheck(
                classroom_id=classroom_id,
                credential_id=credential_id,
                ok=ok,
                summary=summary,
                report=report,
            )
            session.add(row)
            await session.flush()
            old = (
                select(ConnectionCheck.id)
                .where(ConnectionCheck.classroom_id == classroom_id)
                .order_by(ConnectionCheck.id.desc())
                .offset(CHECKS_KEPT)
            )
            stale = list((await session.scalars(old)).all())
            if stale:
                await session.execute(delete(ConnectionCheck).where(ConnectionCheck.id.in_(stale)))
        return row

    async def connection_checks(self, classroom_id: int, limit: int) -> list[ConnectionCheck]:
        """The classroom's latest doctor results, newest first."""
        await self.get_classroom(classroom_id)
        async with self.session() as session:
            query = (
                select(ConnectionCheck)
                .where(ConnectionCheck.classroom_id == classroom_id)
                .order_by(ConnectionCheck.id.desc())
                .limit(limit)
            )
            return list((await session.scalars(query)).all())


def _closing_time(
    row: Attendance, now: datetime, stale_after_s: float, revoked: dict[int, datetime]
) -> datetime:
    """When an open attendance row ends, if it must end now."""
    at = now
    seen = row.last_seen_at
    if seen is not None and (now - seen).total_seconds() > stale_after_s:
        at = seen  # its node stopped writing: the session ended when it was last seen
    if row.credential_id in revoked:
        at = min(at, revoked[row.credential_id])
    return max(at, row.joined_at)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys for the cascades; WAL so readers (the library) never block the recorder.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
