"""Connection checks: the last `classroom-agent doctor` results of each classroom.

Revision ID: 0002_connection_checks
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_connection_checks"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection_checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "classroom_id",
            sa.Integer,
            sa.ForeignKey("classrooms.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "credential_id",
            sa.Integer,
            sa.ForeignKey("device_credentials.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connection_checks")
