"""Lesson series: the lessons one recurrence rule made share a series id (listed, and their
scheduled ones deleted, together).

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.add_column(sa.Column("series", sa.String(32), nullable=True))
        batch.create_index("ix_lessons_series", ["series"])


def downgrade() -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.drop_index("ix_lessons_series")
        batch.drop_column("series")
