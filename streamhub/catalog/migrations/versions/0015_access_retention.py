"""Who watched what (the access log), retention policies per school and subject, and a
school's switch for downloads.

Revision ID: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("schools", table_kwargs=AUTOINCREMENT) as batch:
        batch.add_column(
            sa.Column("downloads_allowed", sa.Boolean, nullable=False, server_default=sa.true())
        )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("who", sa.String(160), nullable=False),
        sa.Column("who_name", sa.String(120), nullable=False),
        sa.Column("recording_id", sa.Integer, nullable=True, index=True),
        sa.Column("capsule_id", sa.Integer, nullable=True, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("school_id", sa.Integer, nullable=True, index=True),
        sa.Column("client_ip", sa.String(64), nullable=False),
        **AUTOINCREMENT,
    )
    op.create_table(
        "retention_policies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "school_id",
            sa.Integer,
            sa.ForeignKey("schools.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column(
            "subject_id",
            sa.Integer,
            sa.ForeignKey("subjects.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column("keep_days", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        **AUTOINCREMENT,
    )


def downgrade() -> None:
    op.drop_table("retention_policies")
    op.drop_table("access_log")
    with op.batch_alter_table("schools", table_kwargs=AUTOINCREMENT) as batch:
        batch.drop_column("downloads_allowed")
