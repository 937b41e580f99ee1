"""Knowledge capsules (clips cut from recordings, with tags) and replay data (which stretches
of a recording or capsule each replay played).

Revision ID: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

AUTOINCREMENT = {"sqlite_autoincrement": True}


def _fk(name: str, table: str, ondelete: str, *, index: bool = True) -> sa.Column[int]:
    return sa.Column(
        name,
        sa.Integer,
        sa.ForeignKey(f"{table}.id", ondelete=ondelete),
        nullable=True,
        index=index,
    )


def upgrade() -> None:
    op.create_table(
        "capsules",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("recording_id", "recordings", "SET NULL"),
        _fk("lesson_id", "lessons", "SET NULL"),
        _fk("school_id", "schools", "SET NULL"),
        _fk("lecturer_account_id", "accounts", "SET NULL"),
        _fk("created_by_account_id", "accounts", "SET NULL", index=False),
        sa.Column("lesson_title", sa.String(200), nullable=False),
        sa.Column("lecturer_name", sa.String(120), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False, index=True),
        sa.Column("grade", sa.String(60), nullable=False, index=True),
        sa.Column("knowledge_point", sa.String(200), nullable=False, index=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_label", sa.String(200), nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("requested_start_s", sa.Float, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("reencoded", sa.Boolean, nullable=False),
        sa.Column("directory", sa.String(200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("has_poster", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("row_key", sa.String(32), nullable=False),
        **AUTOINCREMENT,
    )
    op.create_table(
        "capsule_tags",
        sa.Column(
            "capsule_id",
            sa.Integer,
            sa.ForeignKey("capsules.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(60), primary_key=True, index=True),
    )
    op.create_table(
        "watch_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("recording_id", "recordings", "CASCADE"),
        _fk("capsule_id", "capsules", "CASCADE"),
        sa.Column("viewer", sa.String(64), nullable=False, index=True),
        sa.Column("client_key", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        **AUTOINCREMENT,
    )
    op.create_table(
        "watch_ranges",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "session_id",
            sa.Integer,
            sa.ForeignKey("watch_sessions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("watch_ranges")
    op.drop_table("watch_sessions")
    op.drop_table("capsule_tags")
    op.drop_table("capsules")
