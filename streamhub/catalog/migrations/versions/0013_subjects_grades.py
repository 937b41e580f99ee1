"""Finding lessons: subjects and grades as catalog rows (today's free-text subjects become rows
and their lessons point at them), a lesson description, and the library's search index
(SQLite: an FTS5 trigram table over it; PostgreSQL: a pg_trgm index when the extension can be
had, else plain ILIKE scans).

Revision ID: 0013
"""

import unicodedata
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

AUTOINCREMENT = {"sqlite_autoincrement": True}
# FTS5's trigram tokenizer came with SQLite 3.34.
TRIGRAM_SQLITE = (3, 34, 0)
# What each source weighs in the ranking (streamhub/catalog/search.py says the same).
TITLE_WEIGHT = 8


def _key(name: str) -> str:
    """As streamhub.catalog.vocabulary.name_key: NFKC, case and spacing folded."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _vocabulary(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("name_key", sa.String(120), nullable=False, unique=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        **AUTOINCREMENT,
    )


def upgrade() -> None:
    bind = op.get_bind()
    _vocabulary("subjects")
    _vocabulary("grades")
    with op.batch_alter_table("lessons", table_kwargs=AUTOINCREMENT) as batch:
        batch.add_column(sa.Column("subject_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("grade_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("description", sa.Text, nullable=False, server_default=""))
        batch.create_foreign_key(
            "fk_lessons_subject_id", "subjects", ["subject_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key(
            "fk_lessons_grade_id", "grades", ["grade_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_lessons_subject_id", ["subject_id"])
        batch.create_index("ix_lessons_grade_id", ["grade_id"])
    _subjects_from_text(bind)
    op.create_table(
        "search_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "lesson_id",
            sa.Integer,
            sa.ForeignKey("lessons.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "recording_id",
            sa.Integer,
            sa.ForeignKey("recordings.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("at_s", sa.Float, nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("folded", sa.Text, nullable=False),
    )
    if bind.dialect.name == "sqlite":
        _sqlite_fts(bind)
    elif bind.dialect.name == "postgresql":
        _postgres_trigram(bind)
    # The titles now; chapters (in the recordings' manifests, which a migration cannot reach)
    # come with `streamhub search-index rebuild`, or as each lesson or recording changes.
    titles = bind.execute(sa.text("SELECT id, title FROM lessons WHERE title <> ''")).all()
    entries = sa.table(
        "search_entries",
        sa.column("lesson_id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("weight", sa.Integer),
        sa.column("text", sa.Text),
        sa.column("folded", sa.Text),
    )
    rows = [
        {"lesson_id": i, "source": "title", "weight": TITLE_WEIGHT, "text": t, "folded": _fold(t)}
        for i, t in titles
    ]
    for at in range(0, len(rows), 1000):
        op.bulk_insert(entries, rows[at : at + 1000])


def _subjects_from_text(bind: sa.Connection) -> None:
    """Every distinct subject typed so far becomes a subject (spellings that differ only in
    case, width or spacing become one), and its lessons point at it under its one name."""
    found = bind.execute(sa.text("SELECT DISTINCT subject FROM lessons")).scalars().all()
    names: dict[str, str] = {}
    for text in sorted(s for s in found if s and s.strip()):
        names.setdefault(_key(text), " ".join(text.split()))
    now = datetime.now(UTC)
    for key, name in names.items():
        bind.execute(
            sa.text(
                "INSERT INTO subjects (name, name_key, created_at) VALUES (:name, :key, :now)"
            ).bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True))),
            {"name": name[:120], "key": key[:120], "now": now},
        )
    ids: dict[str, int] = dict(bind.execute(sa.text("SELECT name_key, id FROM subjects")).all())
    for text in found:
        if not text or not text.strip():
            continue
        key = _key(text)
        bind.execute(
            sa.text("UPDATE lessons SET subject_id = :id, subject = :name WHERE subject = :text"),
            {"id": ids[key], "name": names[key][:120], "text": text},
        )


def _sqlite_fts(bind: sa.Connection) -> None:
    text = bind.exec_driver_sql("SELECT sqlite_version()").scalar_one()
    version = tuple(int(x) for x in text.split("."))
    if version < TRIGRAM_SQLITE:
        return  # the search falls back to LIKE (streamhub/catalog/search.py looks for the table)
    # External content: the words live once, in search_entries; triggers keep the index in step.
    op.execute(
        "CREATE VIRTUAL TABLE search_fts USING fts5(folded, content='search_entries', "
        "content_rowid='id', tokenize='trigram')"
    )
    op.execute(
        "CREATE TRIGGER search_entries_ai AFTER INSERT ON search_entries BEGIN "
        "INSERT INTO search_fts(rowid, folded) VALUES (new.id, new.folded); END"
    )
    op.execute(
        "CREATE TRIGGER search_entries_ad AFTER DELETE ON search_entries BEGIN "
        "INSERT INTO search_fts(search_fts, rowid, folded) VALUES ('delete', old.id, old.folded); "
        "END"
    )
    op.execute(
        "CREATE TRIGGER search_entries_au AFTER UPDATE ON search_entries BEGIN "
        "INSERT INTO search_fts(search_fts, rowid, folded) VALUES ('delete', old.id, old.folded); "
        "INSERT INTO search_fts(rowid, folded) VALUES (new.id, new.folded); END"
    )


def _postgres_trigram(bind: sa.Connection) -> None:
    """pg_trgm's GIN index serves ILIKE '%…%'. Creating the extension needs a superuser or,
    for this trusted extension, the database's CREATE privilege: without it the search still
    works (ILIKE scans), and `streamhub search-index rebuild` adds the index later."""
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        return
    bind.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_search_entries_folded_trgm "
        "ON search_entries USING gin (folded gin_trgm_ops)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("search_entries_ai", "search_entries_ad", "search_entries_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_entries")
    with op.batch_alter_table("lessons", table_kwargs=AUTOINCREMENT) as batch:
        batch.drop_index("ix_lessons_grade_id")
        batch.drop_index("ix_lessons_subject_id")
        batch.drop_constraint("fk_lessons_grade_id", type_="foreignkey")
        batch.drop_constraint("fk_lessons_subject_id", type_="foreignkey")
        batch.drop_column("description")
        batch.drop_column("grade_id")
        batch.drop_column("subject_id")
    op.drop_table("grades")
    op.drop_table("subjects")
