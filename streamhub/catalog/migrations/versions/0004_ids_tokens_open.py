"""Ids that are never reused, row keys for tokens, explicit open lessons, revocable tokens.

- SQLite tables get AUTOINCREMENT (sqlite_sequence): without it the id of the newest deleted
  row is handed to the next one, and every token naming the old row opens the new one.
  PostgreSQL sequences never reuse ids; there only the columns below are added.
- ``row_key`` (random) on classrooms, lessons and recordings: tokens carry it and are refused when
  it no longer matches, so a token can never open a row other than the one it was issued for.
- ``lessons.open_to_all``: "open to every classroom" is said, never inferred from an empty
  invite list. Existing lessons become invite-only: an empty list may be the remains of a
  deleted classroom, and widening who may join is the failure this revision removes.
- ``issued_tokens``: lecturer links and staff tokens, listed and revocable.

Revision ID: 0004
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID_TABLES = ("schools", "classrooms", "lessons", "device_credentials", "attendance", "recordings")
KEYED = ("classrooms", "lessons", "recordings")


def _fill_keys(table: str) -> None:
    connection = op.get_bind()
    ids = [row[0] for row in connection.execute(sa.text(f"SELECT id FROM {table}"))]
    statement = sa.text(f"UPDATE {table} SET row_key = :key WHERE id = :id")
    for ident in ids:
        connection.execute(statement, {"key": secrets.token_hex(16), "id": ident})


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # The catalog runs migrations with SQLite's foreign keys off: recreating a table drops the
    # old one, which with foreign keys on would cascade into every child row.
    for table in ID_TABLES:
        with op.batch_alter_table(
            table,
            recreate="always" if sqlite else "auto",
            table_kwargs={"sqlite_autoincrement": True},
        ) as batch:
            if table in KEYED:
                batch.add_column(sa.Column("row_key", sa.String(32), nullable=True))
            if table == "lessons":
                batch.add_column(
                    sa.Column("open_to_all", sa.Boolean, nullable=False, server_default=sa.false())
                )
    for table in KEYED:
        _fill_keys(table)
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.alter_column("row_key", existing_type=sa.String(32), nullable=False)
    op.create_table(
        "issued_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("jti", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False, index=True),
        sa.Column(
            "lesson_id",
            sa.Integer,
            sa.ForeignKey("lessons.id", ondelete="CASCADE"),
            nullable=True,
            index=True,
        ),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("issued_tokens")
    for table in KEYED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("row_key")
    with op.batch_alter_table("lessons") as batch:
        batch.drop_column("open_to_all")
