"""The library's search: an index of every searchable text of a lesson (``search_entries``),
written per lesson from its *sources*, and the query that finds and ranks recordings by it.

A source is one function: given a session and some lesson ids, the texts those lessons have
of its kind. Adding one is a function here decorated with ``@source(name, weight)``, and a
call to ``Catalog.reindex_lessons`` (or ``CatalogBase._reindex`` in the writer's transaction)
wherever its rows change. Sources: titles, descriptions, chapters (recorder's manifest), the
lecturer's marks and questions (``lesson_events``, written in batches by the registry), and
the lesson's capsules (titles; knowledge points and tags).

Matching is by substring, so Chinese needs no word segmentation: SQLite's FTS5 trigram
tokenizer (the migration makes ``search_fts``) and PostgreSQL's pg_trgm GIN index both answer
``%term%`` from the index for terms of three characters or more; shorter terms (most Chinese
words are two characters: 函数) are a LIKE / ILIKE over the entries. Ranking is the same on
both backends: per term, the best-weighted source that holds it (a title over a chapter over a
description), then how many entries hold it; then the newest recording first."""

from __future__ import annotations

import asyncio
import json
import logging
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from streamhub.catalog.models import (
    Capsule,
    CapsuleTag,
    Lesson,
    LessonEventRow,
    Recording,
    SearchEntry,
)

logger = logging.getLogger(__name__)

# Terms of a query that count (the rest are ignored), and the shortest the trigram indexes take.
MAX_TERMS = 6
TRIGRAM = 3
# The recorder's automatic chapters (recorder/finalize.py) say nothing of a lesson's content.
AUTOMATIC_CHAPTERS = frozenset({"Lesson", "Screen share", "Lecturer"})
# Manifest chapters made from lesson events: the ``mark`` and ``question`` sources index those
# events themselves (also before the recording is finalized), so the chapter source skips them.
EVENT_CHAPTERS = frozenset({"mark", "question"})
# Objects the migration makes that the models do not describe (the schema test skips them).
UNMODELLED = ("search_fts", "ix_search_entries_folded_trgm")


def modelled(name: str | None, _type: str, _parents: Any) -> bool:
    """For Alembic's ``include_name``: whether the models describe this object (comparing the
    migrated schema with them skips the search's FTS5 tables and trigram index)."""
    return not (name or "").startswith(UNMODELLED)


# Lessons reindexed per statement batch.
BATCH = 500


def fold(text: str) -> str:
    """Text as the index holds it and queries compare it: NFKC (full-width letters and digits
    as half-width), case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def terms(query: str) -> list[str]:
    return fold(query).split()[:MAX_TERMS]


@dataclass(frozen=True)
class Entry:
    lesson_id: int
    text: str
    recording_id: int | None = None
    at_s: float | None = None


@dataclass(frozen=True)
class Context:
    """What sources may need besides the session: where recordings' files are."""

    recordings_dir: Path | None


SourceFn = Callable[[AsyncSession, Sequence[int], Context], Awaitable[list[Entry]]]


@dataclass(frozen=True)
class Source:
    name: str
    weight: int
    read: SourceFn


SOURCES: dict[str, Source] = {}


def source(name: str, weight: int) -> Callable[[SourceFn], SourceFn]:
    """Register a source of searchable text (``name`` is what a match says it came from)."""

    def register(fn: SourceFn) -> SourceFn:
        SOURCES[name] = Source(name, weight, fn)
        return fn

    return register


@source("title", weight=8)
async def _titles(session: AsyncSession, ids: Sequence[int], _ctx: Context) -> list[Entry]:
    rows = await session.execute(select(Lesson.id, Lesson.title).where(Lesson.id.in_(ids)))
    return [Entry(i, t) for i, t in rows if t.strip()]


@source("description", weight=2)
async def _descriptions(session: AsyncSession, ids: Sequence[int], _ctx: Context) -> list[Entry]:
    query = select(Lesson.id, Lesson.description).where(Lesson.id.in_(ids))
    return [Entry(i, d) for i, d in (await session.execute(query)) if d.strip()]


@source("chapter", weight=4)
async def _chapters(session: AsyncSession, ids: Sequence[int], ctx: Context) -> list[Entry]:
    """The chapters in each ready recording's manifest (finalize writes them)."""
    if ctx.recordings_dir is None:
        return []
    query = select(Recording.id, Recording.lesson_id, Recording.directory).where(
        Recording.lesson_id.in_(ids), Recording.state == "ready"
    )
    found = (await session.execute(query)).all()
    root = ctx.recordings_dir
    return await asyncio.to_thread(_read_chapters, root, list(found))


def _read_chapters(root: Path, recordings: list[tuple[int, int, str]]) -> list[Entry]:
    entries: list[Entry] = []
    base = root.resolve()
    for recording_id, lesson_id, directory in recordings:
        path = (base / directory / "manifest.json").resolve()
        if not path.is_relative_to(base):
            continue
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # no manifest (yet): its chapters come when it is reindexed
        for chapter in manifest.get("chapters", []) if isinstance(manifest, dict) else []:
            title = chapter.get("title") if isinstance(chapter, dict) else None
            if not isinstance(title, str) or not title.strip() or title in AUTOMATIC_CHAPTERS:
                continue
            if chapter.get("kind") in EVENT_CHAPTERS:
                continue
            start = chapter.get("start_s")
            at = float(start) if isinstance(start, int | float) else None
            entries.append(Entry(lesson_id, title[:2000], recording_id, at))
    return entries


async def _events(session: AsyncSession, ids: Sequence[int], kind: str, field: str) -> list[Entry]:
    """The lesson events of this kind with their text (``data[field]``), each placed in the
    recordings of its lesson that were running at the time (at the second it happened), or
    on the lesson when none was (it finds every recording of the lesson then)."""
    query = (
        select(LessonEventRow.lesson_id, LessonEventRow.at, LessonEventRow.data)
        .where(LessonEventRow.lesson_id.in_(ids), LessonEventRow.kind == kind)
        .order_by(LessonEventRow.at, LessonEventRow.id)
    )
    events = (await session.execute(query)).all()
    if not events:
        return []
    recordings = (
        await session.execute(
            select(
                Recording.id,
                Recording.lesson_id,
                Recording.started_at,
                Recording.ended_at,
                Recording.duration_s,
            ).where(Recording.lesson_id.in_({e.lesson_id for e in events}))
        )
    ).all()
    entries: list[Entry] = []
    for lesson_id, at, data in events:
        try:
            said = json.loads(data or "{}")
        except ValueError:
            continue
        value = said.get(field) if isinstance(said, dict) else None
        if not isinstance(value, str) or not value.strip():
            continue
        placed = False
        for rec_id, rec_lesson, started, ended, duration in recordings:
            if rec_lesson != lesson_id:
                continue
            offset = (at - started).total_seconds()
            # A recording still going (no end yet) takes everything after its start.
            last = (ended - started).total_seconds() if ended is not None else None
            if last is None and duration:
                last = float(duration)
            if offset < 0 or (last is not None and offset > last):
                continue
            entries.append(Entry(lesson_id, value[:2000], rec_id, round(offset, 3)))
            placed = True
        if not placed:
            entries.append(Entry(lesson_id, value[:2000]))
    return entries


@source("mark", weight=5)
async def _marks(session: AsyncSession, ids: Sequence[int], _ctx: Context) -> list[Entry]:
    """The lecturer's markers (their labels), where they were set."""
    return await _events(session, ids, "mark", "label")


@source("question", weight=4)
async def _questions(session: AsyncSession, ids: Sequence[int], _ctx: Context) -> list[Entry]:
    """The lecturer's questions (their text), where they were asked."""
    return await _events(session, ids, "question", "text")


@source("capsule", weight=6)
async def _capsules(session: AsyncSession, ids: Sequence[int], _ctx: Context) -> list[Entry]:
    """The titles of the capsules cut from a recording: they find that recording, at the
    capsule's start (a capsule whose recording is gone finds its lesson)."""
    query = select(Capsule.lesson_id, Capsule.recording_id, Capsule.title, Capsule.start_s).where(
        Capsule.lesson_id.in_(ids)
    )
    return [
        Entry(lesson, title, rec, start)
        for lesson, rec, title, start in await session.execute(query)
        if lesson is not None and title.strip()
    ]


@source("capsule_topic", weight=3)
async def _capsule_topics(session: AsyncSession, ids: Sequence[int], _ctx: Context) -> list[Entry]:
    """The capsules' knowledge points and tags (each once per recording)."""
    query = select(
        Capsule.id,
        Capsule.lesson_id,
        Capsule.recording_id,
        Capsule.knowledge_point,
        Capsule.start_s,
    ).where(Capsule.lesson_id.in_(ids))
    capsules = (await session.execute(query)).all()
    if not capsules:
        return []
    tags = await session.execute(
        select(CapsuleTag.capsule_id, CapsuleTag.tag).where(
            CapsuleTag.capsule_id.in_([c.id for c in capsules])
        )
    )
    tags_of: dict[int, list[str]] = {}
    for capsule_id, tag in tags:
        tags_of.setdefault(capsule_id, []).append(tag)
    seen: set[tuple[int, int | None, str]] = set()
    entries: list[Entry] = []
    for capsule_id, lesson, rec, point, start in capsules:
        if lesson is None:
            continue
        for value in [point, *tags_of.get(capsule_id, [])]:
            key = (lesson, rec, value)
            if value.strip() and key not in seen:
                seen.add(key)
                entries.append(Entry(lesson, value, rec, start))
    return entries


async def reindex(session: AsyncSession, lesson_ids: Sequence[int], ctx: Context) -> None:
    """Write these lessons' entries afresh, from every source, in the caller's transaction."""
    ids = sorted(set(lesson_ids))
    for at in range(0, len(ids), BATCH):
        chunk = ids[at : at + BATCH]
        await session.execute(delete(SearchEntry).where(SearchEntry.lesson_id.in_(chunk)))
        rows: list[dict[str, Any]] = []
        for src in SOURCES.values():
            for entry in await src.read(session, chunk, ctx):
                rows.append(
                    {
                        "lesson_id": entry.lesson_id,
                        "recording_id": entry.recording_id,
                        "source": src.name,
                        "weight": src.weight,
                        "at_s": entry.at_s,
                        "text": entry.text,
                        "folded": fold(entry.text),
                    }
                )
        if rows:
            await session.execute(insert(SearchEntry), rows)


def like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(term: str, fts: bool) -> ColumnElement[bool]:
    """The entries holding ``term``: from the FTS5 trigram index when SQLite has one and the
    term is long enough for trigrams, else a pattern (PostgreSQL's ILIKE uses pg_trgm's
    index by itself)."""
    if fts and len(term) >= TRIGRAM:
        phrase = '"' + term.replace('"', '""') + '"'
        # unique: each term's own parameter (a query has several).
        hits = text("SELECT rowid FROM search_fts WHERE search_fts MATCH :phrase").bindparams(
            bindparam("phrase", phrase, unique=True)
        )
        return SearchEntry.id.in_(hits)
    return SearchEntry.folded.ilike(like_pattern(term), escape="\\")


@dataclass(frozen=True)
class SearchQuery:
    """What a recordings query joins (one subquery per term: the recordings holding it, with
    their score for it; an inner join keeps those holding every term) and orders by."""

    joins: list[Any]
    score: ColumnElement[Any]


def search_recordings(query_text: str, fts: bool) -> SearchQuery | None:
    """Recordings whose lesson (or the recording itself) holds every term of ``query_text``,
    scored; None when it has no terms. Each term's entries are found once (by the index), not
    once per recording."""
    words = terms(query_text)
    if not words:
        return None
    joins: list[Any] = []
    score: ColumnElement[Any] = literal(0)
    for term in words:
        hits = (
            select(SearchEntry.lesson_id, SearchEntry.recording_id, SearchEntry.weight)
            .where(_matches(term, fts))
            .subquery()
        )
        count = func.count()
        per_recording = (
            select(
                Recording.id.label("recording_id"),
                # Ten per weight point, plus up to nine for how often: the same everywhere.
                (func.max(hits.c.weight) * 10 + case((count > 9, 9), else_=count)).label("score"),
            )
            .join(hits, hits.c.lesson_id == Recording.lesson_id)
            .where(or_(hits.c.recording_id.is_(None), hits.c.recording_id == Recording.id))
            .group_by(Recording.id)
            .subquery()
        )
        joins.append(per_recording)
        score = score + per_recording.c.score
    return SearchQuery(joins, score)


async def matches_for(
    session: AsyncSession, recordings: Sequence[tuple[int, int]], query_text: str, fts: bool
) -> dict[int, list[tuple[str, str, float | None]]]:
    """For each (recording, lesson) listed, the entries holding a term of the query: (source,
    text, at_s), best first, up to three; the library shows why a recording was found."""
    words = terms(query_text)
    if not words or not recordings:
        return {}
    lessons = {lesson for _, lesson in recordings}
    query = (
        select(
            SearchEntry.lesson_id,
            SearchEntry.recording_id,
            SearchEntry.source,
            SearchEntry.text,
            SearchEntry.at_s,
        )
        .where(SearchEntry.lesson_id.in_(lessons), or_(*(_matches(t, fts) for t in words)))
        .order_by(SearchEntry.weight.desc(), SearchEntry.at_s, SearchEntry.id)
    )
    rows = (await session.execute(query)).all()
    out: dict[int, list[tuple[str, str, float | None]]] = {}
    for recording_id, lesson_id in recordings:
        found = [
            (src, txt, at)
            for les, rec, src, txt, at in rows
            if les == lesson_id and rec in (None, recording_id)
        ]
        out[recording_id] = found[:3]
    return out


async def has_fts(session: AsyncSession) -> bool:
    """Whether this SQLite catalog has the FTS5 trigram table (older SQLite: no)."""
    found = await session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_fts'")
    )
    return found.first() is not None


async def ensure_postgres_trigram(session: AsyncSession) -> bool:
    """Make pg_trgm's index if it can be had now (the migration could not): True if there."""
    try:
        async with session.begin_nested():
            await session.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            await session.execute(
                text(
                    "CREATE INDEX IF NOT EXISTS ix_search_entries_folded_trgm "
                    "ON search_entries USING gin (folded gin_trgm_ops)"
                )
            )
    except Exception as exc:  # any refusal leaves the ILIKE scans
        logger.warning("no trigram index for the search (%s): searching by ILIKE scans", exc)
        return False
    return True
