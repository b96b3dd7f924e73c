"""purchase orders reach suppliers: signing secrets and the dispatch of each sent order

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from galley.db import UTCDateTime
from galley.privacy.keys import DataKeys, data_keys
from galley.webhooks.secrets import new_secret

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The associated data a secret is sealed with (`galley.purchasing.suppliers`).
_SIGNING_COLUMN = "suppliers.webhook_secret"


def upgrade() -> None:
    keys = _keys_for_secrets()
    op.add_column("suppliers", sa.Column("webhook_secret", sa.Text(), nullable=True))
    op.add_column("suppliers", sa.Column("previous_webhook_secret", sa.Text(), nullable=True))
    op.add_column(
        "suppliers",
        sa.Column("previous_webhook_secret_expires_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "purchase_order_dispatches",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("purchase_order_id", _ID, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('webhook', 'email')",
            name=op.f("ck_purchase_order_dispatches_known_channel"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'skipped')",
            name=op.f("ck_purchase_order_dispatches_known_status"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_purchase_order_dispatches_purchase_order_id_purchase_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_dispatches")),
        sa.UniqueConstraint(
            "event_id", "channel", name=op.f("uq_purchase_order_dispatches_event_id_channel")
        ),
    )
    op.create_index(
        "ix_purchase_order_dispatches_purchase_order_id",
        "purchase_order_dispatches",
        ["purchase_order_id"],
    )
    op.create_index(
        "ix_purchase_order_dispatches_pending",
        "purchase_order_dispatches",
        ["next_attempt_at"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    if keys is not None:
        _give_secrets(keys)


_SUPPLIERS = sa.table(
    "suppliers", sa.column("id"), sa.column("webhook_url"), sa.column("webhook_secret")
)


def _with_webhook() -> list[int]:
    found = op.get_bind().execute(
        sa.select(_SUPPLIERS.c.id).where(_SUPPLIERS.c.webhook_url.is_not(None))
    )
    return list(found.scalars())


def _keys_for_secrets() -> DataKeys | None:
    """The data keys, when suppliers need secrets. Refused before anything changes when
    they need them and there are none: SQLite would keep the columns added before."""
    waiting = len(_with_webhook())
    if not waiting:
        return None
    settings = context.config.attributes.get("settings")
    if settings is None or not settings.data_keys:
        raise RuntimeError(
            f"{waiting} suppliers with a webhook URL need a signing secret: "
            "set GALLEY_DATA_KEYS and migrate again"
        )
    return data_keys(settings.data_keys)


def _give_secrets(keys: DataKeys) -> None:
    """Suppliers that already have a webhook URL get a signing secret; an administrator
    learns it by rotating it (`POST /v1/suppliers/{id}/rotate-webhook-secret`)."""
    for supplier_id in _with_webhook():
        op.get_bind().execute(
            _SUPPLIERS.update()
            .where(_SUPPLIERS.c.id == supplier_id)
            .values(webhook_secret=keys.seal(new_secret(), _SIGNING_COLUMN))
        )


def downgrade() -> None:
    op.drop_index("ix_purchase_order_dispatches_pending", table_name="purchase_order_dispatches")
    op.drop_index(
        "ix_purchase_order_dispatches_purchase_order_id", table_name="purchase_order_dispatches"
    )
    op.drop_table("purchase_order_dispatches")
    with op.batch_alter_table("suppliers") as batch:
        batch.drop_column("previous_webhook_secret_expires_at")
        batch.drop_column("previous_webhook_secret")
        batch.drop_column("webhook_secret")
