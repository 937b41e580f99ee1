"""The initial catalog: schools, classrooms, lessons and invites, device credentials,
attendance, recordings.

Revision ID: 0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False, **kw: Any) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kw)


def upgrade() -> None:
    op.create_table(
        "schools",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region", sa.String(120), nullable=False),
        _ts("created_at", server_default=sa.func.now()),
    )
    op.create_table(
        "classrooms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "school_id",
            sa.Integer,
            sa.ForeignKey("schools.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region", sa.String(120), nullable=False),
        _ts("created_at", server_default=sa.func.now()),
    )
    op.create_table(
        "lessons",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False, index=True),
        sa.Column("lecturer_name", sa.String(120), nullable=False, index=True),
        _ts("scheduled_start", index=True),
        _ts("scheduled_end"),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("join_code", sa.String(16), nullable=False, unique=True),
        _ts("started_at", nullable=True),
        _ts("ended_at", nullable=True),
        _ts("created_at", server_default=sa.func.now()),
    )
    op.create_table(
        "lesson_invites",
        sa.Column(
            "lesson_id",
            sa.Integer,
            sa.ForeignKey("lessons.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "classroom_id",
            sa.Integer,
            sa.ForeignKey("classrooms.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "device_credentials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "classroom_id",
            sa.Integer,
            sa.ForeignKey("classrooms.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        _ts("created_at", server_default=sa.func.now()),
        _ts("revoked_at", nullable=True),
        _ts("last_used_at", nullable=True),
    )
    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "lesson_id",
            sa.Integer,
            sa.ForeignKey("lessons.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column(
            "classroom_id",
            sa.Integer,
            sa.ForeignKey("classrooms.id", ondelete="SET NULL"),
            nullable=True,
        ),
        _ts("joined_at"),
        _ts("left_at", nullable=True),
        sa.Column("quality", sa.Float, nullable=True),
    )
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "lesson_id",
            sa.Integer,
            sa.ForeignKey("lessons.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("failure_reason", sa.Text, nullable=False),
        sa.Column("directory", sa.String(200), nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("has_screen", sa.Boolean, nullable=False),
        _ts("started_at"),
        _ts("ended_at", nullable=True),
    )


def downgrade() -> None:
    for table in (
        "recordings",
        "attendance",
        "device_credentials",
        "lesson_invites",
        "lessons",
        "classrooms",
        "schools",
    ):
        op.drop_table(table)
