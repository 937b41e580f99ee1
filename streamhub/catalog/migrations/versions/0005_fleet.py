"""The fleet board: what each classroom PC last said of itself.

- ``device_credentials.agent``: the PC's agent, version and system, from its User-Agent
  (``classroom-agent/0.1.0 (Linux 6.1; Python 3.11)``), written with ``last_used_at``;
- ``device_credentials.devices`` and ``devices_at``: its camera, microphone, loudspeaker and
  display as it last reported them (JSON), so the board survives a hub restart and shows the
  same on every node.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device_credentials") as batch:
        batch.add_column(sa.Column("agent", sa.String(160), nullable=False, server_default=""))
        batch.add_column(sa.Column("devices", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("devices_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_credentials") as batch:
        batch.drop_column("devices_at")
        batch.drop_column("devices")
        batch.drop_column("agent")
