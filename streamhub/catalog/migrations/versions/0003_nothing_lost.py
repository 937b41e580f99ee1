"""Nothing lost (issue 13, items 10, 12, 13): when each attendance row's session was last seen
alive and through which device credential, and for each recording the node that writes it,
whether it is partial and why.

Revision ID: 0003
Revises: 0001 (chain it after 0002 when both are merged)
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002_connection_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attendance") as batch:
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("credential_id", sa.Integer, nullable=True))
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("node_id", sa.String(128), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("partial", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("note", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("note")
        batch.drop_column("partial")
        batch.drop_column("node_id")
    with op.batch_alter_table("attendance") as batch:
        batch.drop_column("credential_id")
        batch.drop_column("last_seen_at")
