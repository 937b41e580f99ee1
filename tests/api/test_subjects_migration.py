"""Migration 0011 on a catalog that has lessons with free-text subjects: each distinct subject
becomes one row (spellings differing in case, width or spacing are one), its lessons point at it
under that one name, and their titles are searchable at once; `streamhub search-index rebuild`
then adds the chapters of earlier recordings. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from streamhub.catalog.store import MIGRATIONS, Catalog
from streamhub.config import load_settings

LESSONS = [("函数 一", "数学"), ("函数 二", " 数学"), ("Reading", "English"), ("Words", "english"),
           ("Free", "")]  # fmt: skip


def _upgrade(connection: Connection, revision: str) -> None:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def test_free_text_subjects_become_rows(tmp_path: Path, database_url: str | None) -> None:
    settings = load_settings(None, data_dir=tmp_path, database_url=database_url)
    engine = create_async_engine(settings.effective_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, "0010")
            for i, (title, subject) in enumerate(LESSONS):
                await connection.execute(
                    text(
                        "INSERT INTO lessons (title, subject, lecturer_name, scheduled_start, "
                        "scheduled_end, status, join_code, created_at, row_key, open_to_all) "
                        "VALUES (:t, :s, '', '2026-01-05 00:00:00', '2026-01-05 01:00:00', "
                        "'ended', :c, '2026-01-01 00:00:00', 'k', false)"
                    ),
                    {"t": title, "s": subject, "c": f"CODE{i}"},
                )
            lesson_id = (await connection.execute(text("SELECT min(id) FROM lessons"))).scalar()
            await connection.execute(
                text(
                    "INSERT INTO recordings (lesson_id, state, failure_reason, directory, "
                    "duration_s, size_bytes, progress, has_screen, started_at, row_key) "
                    "VALUES (:l, 'ready', '', 'old', 60, 0, 1, false, '2026-01-05 00:00:00', 'k')"
                ),
                {"l": lesson_id},
            )
    finally:
        await engine.dispose()
    old = settings.effective_recordings_dir / "old"
    old.mkdir(parents=True)
    chapters = [{"start_s": 0.0, "title": "Lesson"}, {"start_s": 30.0, "title": "顶点坐标"}]
    (old / "manifest.json").write_text(json.dumps({"chapters": chapters}))

    catalog = await Catalog.open(settings)  # migrates to the head
    try:
        subjects = await catalog.vocabulary("subject")
        assert sorted(s.name for s in subjects) == ["English", "数学"]
        ids = {s.name: s.id for s in subjects}
        page = await catalog.list_lessons(10, 0)
        linked = {x.title: (x.subject, x.subject_id) for x in page.items}
        assert linked == {
            "函数 一": ("数学", ids["数学"]),
            "函数 二": ("数学", ids["数学"]),
            "Reading": ("English", ids["English"]),
            "Words": ("English", ids["English"]),
            "Free": ("", None),
        }
        found = await catalog.list_recordings(10, 0, q="函数")
        assert [r.lesson.title for r in found.items] == ["函数 一"]
        assert (await catalog.list_recordings(10, 0, q="顶点坐标")).total == 0
        assert await catalog.rebuild_search_index() == len(LESSONS)
        assert (await catalog.list_recordings(10, 0, q="顶点坐标")).total == 1
    finally:
        await catalog.close()


async def test_capsules_free_text_subjects_and_grades_are_linked(
    tmp_path: Path, database_url: str | None
) -> None:
    """Migration 0014: a capsule whose free text names a subject or grade (folded as names are)
    points at it; one naming nothing keeps its text. Then a rebuild makes earlier marks,
    questions and capsules searchable."""
    settings = load_settings(None, data_dir=tmp_path, database_url=database_url)
    engine = create_async_engine(settings.effective_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, "0013")
            await connection.execute(
                text(
                    "INSERT INTO grades (name, name_key, created_at) "
                    "VALUES ('八年级', '八年级', '2026-01-01 00:00:00')"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO lessons (title, subject, lecturer_name, scheduled_start, "
                    "scheduled_end, status, join_code, created_at, row_key, open_to_all, "
                    "description) VALUES ('勾股', '', '', '2026-01-05 00:00:00', "
                    "'2026-01-05 01:00:00', 'ended', 'CODE9', '2026-01-01 00:00:00', 'k', "
                    "false, '')"
                )
            )
            lesson_id = (await connection.execute(text("SELECT min(id) FROM lessons"))).scalar()
            await connection.execute(
                text(
                    "INSERT INTO recordings (lesson_id, state, failure_reason, directory, "
                    "duration_s, size_bytes, progress, has_screen, started_at, row_key) "
                    "VALUES (:l, 'ready', '', 'old', 60, 0, 1, false, '2026-01-05 00:00:00', 'k')"
                ),
                {"l": lesson_id},
            )
            for title, subject, grade in (("一", "数学", " 八年级"), ("二", "炼金术", "")):
                await connection.execute(
                    text(
                        "INSERT INTO capsules (lesson_id, lesson_title, lecturer_name, title, "
                        "subject, grade, knowledge_point, source, source_label, start_s, end_s, "
                        "requested_start_s, duration_s, reencoded, directory, size_bytes, "
                        "has_poster, created_at, row_key) VALUES (:l, '', '', :t, :s, :g, '', "
                        "'player', '', 0, 4, 0, 4, false, :d, 0, false, "
                        "'2026-01-06 00:00:00', 'k')"
                    ),
                    {"l": lesson_id, "t": f"胶囊{title}", "s": subject, "g": grade, "d": title},
                )
            await connection.execute(
                text(
                    "INSERT INTO lesson_events (lesson_id, at, kind, name, data) VALUES "
                    "(:l, '2026-01-05 00:00:30', 'mark', '', :d)"
                ),
                {"l": lesson_id, "d": json.dumps({"label": "易错点"}, ensure_ascii=False)},
            )
    finally:
        await engine.dispose()
    catalog = await Catalog.open(settings)
    try:
        grade_id = (await catalog.vocabulary("grade"))[0].id
        capsules = {c.title: c for c in (await catalog.list_capsules(10, 0)).items}
        one, two = capsules["胶囊一"], capsules["胶囊二"]
        assert (one.grade, one.grade_id, one.subject, one.subject_id) == ("八年级", grade_id,
                                                                         "数学", None)  # fmt: skip
        assert (two.subject, two.subject_id) == ("炼金术", None)
        assert (await catalog.list_recordings(10, 0, q="易错点")).total == 0
        await catalog.rebuild_search_index()
        assert (await catalog.list_recordings(10, 0, q="易错点")).total == 1
        assert (await catalog.list_recordings(10, 0, q="胶囊")).total == 1
    finally:
        await catalog.close()
