"""Capsules pick their subject and grade from the county's lists (``subject_id``, ``grade_id``),
as lessons do (and a replay's last report time, ``watch_sessions.updated_at``, for the data
feed's replay summaries); ``subject`` and ``grade`` stay the names shown (kept in step on a rename).
Existing capsules whose free text names a subject or grade (compared as names are: case, width
and spacing folded) point at it; the others keep their text, readable, with no id.

Revision ID: 0014
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

AUTOINCREMENT = {"sqlite_autoincrement": True}


def _key(name: str) -> str:
    """As streamhub.catalog.vocabulary.name_key: NFKC, case and spacing folded."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _link(bind: sa.Connection, column: str, table: str) -> None:
    ids = {
        key: (ident, name)
        for ident, key, name in bind.execute(sa.text(f"SELECT id, name_key, name FROM {table}"))
    }
    found = bind.execute(sa.text(f"SELECT DISTINCT {column} FROM capsules")).scalars().all()
    for text in found:
        match = ids.get(_key(text or ""))
        if not text or match is None:
            continue
        bind.execute(
            sa.text(
                f"UPDATE capsules SET {column}_id = :id, {column} = :name WHERE {column} = :text"
            ),
            {"id": match[0], "name": match[1], "text": text},
        )


def upgrade() -> None:
    with op.batch_alter_table("capsules", table_kwargs=AUTOINCREMENT) as batch:
        batch.add_column(sa.Column("subject_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("grade_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_capsules_subject_id", "subjects", ["subject_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key(
            "fk_capsules_grade_id", "grades", ["grade_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_capsules_subject_id", ["subject_id"])
        batch.create_index("ix_capsules_grade_id", ["grade_id"])
    bind = op.get_bind()
    _link(bind, "subject", "subjects")
    _link(bind, "grade", "grades")
    # A replay's last report: what the data feed's replay.summary reports is what changed
    # since the previous one (earlier replays: their start).
    with op.batch_alter_table("watch_sessions", table_kwargs=AUTOINCREMENT) as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE watch_sessions SET updated_at = started_at")
    with op.batch_alter_table("watch_sessions", table_kwargs=AUTOINCREMENT) as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_index("ix_watch_sessions_updated_at", ["updated_at"])


def downgrade() -> None:
    with op.batch_alter_table("watch_sessions", table_kwargs=AUTOINCREMENT) as batch:
        batch.drop_index("ix_watch_sessions_updated_at")
        batch.drop_column("updated_at")
    with op.batch_alter_table("capsules", table_kwargs=AUTOINCREMENT) as batch:
        batch.drop_index("ix_capsules_grade_id")
        batch.drop_index("ix_capsules_subject_id")
        batch.drop_constraint("fk_capsules_grade_id", type_="foreignkey")
        batch.drop_constraint("fk_capsules_subject_id", type_="foreignkey")
        batch.drop_column("grade_id")
        batch.drop_column("subject_id")
