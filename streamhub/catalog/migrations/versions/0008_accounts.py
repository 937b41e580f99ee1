"""People and roles: accounts (county admin, school admin, lecturer, staff), one-time sign-in
links, and who a lesson belongs to (its school, its lecturer's account).

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("login", sa.String(254), nullable=False, unique=True),
        sa.Column("display_name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False, index=True),
        sa.Column(
            "school_id",
            sa.Integer,
            sa.ForeignKey("schools.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("session_key", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        **AUTOINCREMENT,
    )
    op.create_table(
        "sign_in_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        **AUTOINCREMENT,
    )
    # SQLite adds the foreign keys by copying the table: it must keep AUTOINCREMENT (ids of
    # deleted lessons are never handed out again).
    with op.batch_alter_table("lessons", table_kwargs=AUTOINCREMENT) as batch:
        batch.add_column(sa.Column("school_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("lecturer_account_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_lessons_school_id", "schools", ["school_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key(
            "fk_lessons_lecturer_account_id",
            "accounts",
            ["lecturer_account_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_lessons_school_id", ["school_id"])
        batch.create_index("ix_lessons_lecturer_account_id", ["lecturer_account_id"])


def downgrade() -> None:
    with op.batch_alter_table("lessons", table_kwargs=AUTOINCREMENT) as batch:
        batch.drop_index("ix_lessons_lecturer_account_id")
        batch.drop_index("ix_lessons_school_id")
        batch.drop_constraint("fk_lessons_lecturer_account_id", type_="foreignkey")
        batch.drop_constraint("fk_lessons_school_id", type_="foreignkey")
        batch.drop_column("lecturer_account_id")
        batch.drop_column("school_id")
    op.drop_table("sign_in_links")
    op.drop_table("accounts")
