"""Time in audio only: the stretches each attendance session received sound only, for the
register's audio-only minutes.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audio_only_intervals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "attendance_id",
            sa.Integer,
            sa.ForeignKey("attendance.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("audio_only_intervals")
