"""sealed personal data and the audit log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from galley.db import UTCDateTime
from galley.migrations.append_only import forbid_changes
from galley.privacy.keys import DataKeys, data_keys

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    keys = _data_keys_if_needed()
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_email"), type_="unique")
        batch_op.alter_column("email", type_=sa.Text(), existing_nullable=False)
        batch_op.add_column(sa.Column("email_index", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.Text(), nullable=True))
    if keys is not None:
        _seal_existing_emails(keys)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("email_index", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_users_email_index"), ["email_index"])

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery", sa.Text(), nullable=True))

    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("address", sa.String(length=45), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_actor_id", ["actor", "id"], unique=False)
        batch_op.create_index("ix_audit_events_kind_id", ["kind", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_events_occurred_at"), ["occurred_at"], unique=False
        )
    forbid_changes("audit_events")


def _data_keys_if_needed() -> DataKeys | None:
    """The data keys when accounts exist to seal; checked before any change is made."""
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM users")).scalar()
    if not count:
        return None
    settings = context.config.attributes.get("settings")
    if settings is None or not settings.data_keys:
        raise RuntimeError(
            f"{count} accounts have a plain e-mail to seal: set GALLEY_DATA_KEYS and migrate again"
        )
    return data_keys(settings.data_keys)


def _seal_existing_emails(keys: DataKeys) -> None:
    """Accounts made before sealing keep working: their e-mails are sealed here."""
    bind = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("email"), sa.column("email_index"))
    for user_id, email in bind.execute(sa.select(users.c.id, users.c.email)).all():
        bind.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(email=keys.seal(email, "users.email"), email_index=keys.email_index(email))
        )


def downgrade() -> None:
    op.drop_table("audit_events")  # its append-only triggers go with it
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("delivery")
    # Sealed e-mails cannot go back to plain text here; only an empty table downgrades.
    if op.get_bind().execute(sa.text("SELECT count(*) FROM users")).scalar():
        raise RuntimeError("users hold sealed e-mails; downgrading would lose them")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_email_index"), type_="unique")
        batch_op.drop_column("phone")
        batch_op.drop_column("name")
        batch_op.drop_column("email_index")
        batch_op.alter_column("email", type_=sa.String(length=320), existing_nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_users_email"), ["email"])
