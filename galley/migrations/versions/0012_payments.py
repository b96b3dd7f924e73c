"""payments of orders, their refunds, and the gateway events acted on

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from galley.db import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("number", _ID, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("order_number", _ID, nullable=False),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("capture", sa.String(length=10), nullable=False),
        sa.Column("gateway_ref", sa.String(length=255), nullable=True),
        sa.Column("client_secret", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=40), nullable=True),
        sa.Column("tendered", sa.BigInteger(), nullable=True),
        sa.Column("change", sa.BigInteger(), nullable=True),
        sa.Column("failure", sa.String(length=500), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("request_key", sa.String(length=255), nullable=True),
        sa.Column("request_print", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'authorized', 'captured', 'failed', 'cancelled')",
            name=op.f("ck_payments_known_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint(
            "capture IN ('automatic', 'on_ready')", name=op.f("ck_payments_known_capture")
        ),
        sa.ForeignKeyConstraint(
            ["order_number"],
            ["orders.number"],
            name=op.f("fk_payments_order_number_orders"),
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_payments")),
        sa.UniqueConstraint("id", name=op.f("uq_payments_id")),
    )
    op.create_index("ix_payments_order_number", "payments", ["order_number"])
    op.create_index("uq_payments_gateway_ref", "payments", ["gateway", "gateway_ref"], unique=True)
    op.create_index("uq_payments_request", "payments", ["requested_by", "request_key"], unique=True)
    op.create_index(
        "uq_payments_one_pending_per_order",
        "payments",
        ["order_number"],
        unique=True,
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_table(
        "refunds",
        sa.Column("number", _ID, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("payment_number", _ID, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("gateway_ref", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_refunds_known_status")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_number"],
            ["payments.number"],
            name=op.f("fk_refunds_payment_number_payments"),
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_refunds")),
        sa.UniqueConstraint("id", name=op.f("uq_refunds_id")),
    )
    op.create_index("ix_refunds_payment_number", "refunds", ["payment_number"])
    op.create_table(
        "gateway_notices",
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("gateway", "event_id", name=op.f("pk_gateway_notices")),
    )


def downgrade() -> None:
    op.drop_table("gateway_notices")
    op.drop_index("ix_refunds_payment_number", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("uq_payments_one_pending_per_order", table_name="payments")
    op.drop_index("uq_payments_request", table_name="payments")
    op.drop_index("uq_payments_gateway_ref", table_name="payments")
    op.drop_index("ix_payments_order_number", table_name="payments")
    op.drop_table("payments")
