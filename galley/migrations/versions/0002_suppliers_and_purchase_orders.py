"""suppliers, purchase orders and replenishment

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from galley.db import UTCDateTime
from galley.migrations.append_only import allow_changes, forbid_changes

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suppliers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("auto_send", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "lead_time_days BETWEEN 0 AND 365", name=op.f("ck_suppliers_lead_time_in_range")
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_suppliers_currency_iso")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppliers")),
    )
    op.create_table(
        "purchase_orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "location_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'sent', 'partially_received', 'received', 'cancelled')",
            name=op.f("ck_purchase_orders_known_status"),
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_purchase_orders_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_purchase_orders_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_orders")),
    )
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.create_index("ix_purchase_orders_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_purchase_orders_one_draft",
            ["supplier_id", "location_id"],
            unique=True,
            sqlite_where=sa.text("status = 'draft'"),
            postgresql_where=sa.text("status = 'draft'"),
        )

    op.create_table(
        "purchase_order_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "purchase_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("cause", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_purchase_order_events_purchase_order_id_purchase_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_events")),
    )
    with op.batch_alter_table("purchase_order_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_purchase_order_events_purchase_order_id", ["purchase_order_id"], unique=False
        )

    op.create_table(
        "purchase_order_lines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "purchase_order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity_ordered", sa.BigInteger(), nullable=False),
        sa.Column("quantity_received", sa.BigInteger(), nullable=False),
        sa.Column("unit_cost", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "quantity_ordered >= 0", name=op.f("ck_purchase_order_lines_ordered_not_negative")
        ),
        sa.CheckConstraint(
            "quantity_received >= 0", name=op.f("ck_purchase_order_lines_received_not_negative")
        ),
        sa.CheckConstraint(
            "unit_cost >= 0", name=op.f("ck_purchase_order_lines_unit_cost_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_purchase_order_lines_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_purchase_order_lines_purchase_order_id_purchase_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_lines")),
        sa.UniqueConstraint(
            "purchase_order_id",
            "product_id",
            name=op.f("uq_purchase_order_lines_purchase_order_id_product_id"),
        ),
    )
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.create_index("ix_purchase_order_lines_product_id", ["product_id"], unique=False)

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("allow_backorder", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("margin_pct", sa.Integer(), server_default="20", nullable=False)
        )
        batch_op.add_column(sa.Column("reorder_point", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reorder_quantity", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("pack_size", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_products_supplier_id"), ["supplier_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_products_supplier_id_suppliers"), "suppliers", ["supplier_id"], ["id"]
        )
        batch_op.create_check_constraint("margin_in_range", "margin_pct BETWEEN 0 AND 500")
        batch_op.create_check_constraint("pack_size_positive", "pack_size >= 1")
        batch_op.create_check_constraint("reorder_point_not_negative", "reorder_point >= 0")
        batch_op.create_check_constraint("reorder_quantity_positive", "reorder_quantity >= 1")

    with op.batch_alter_table("stock_levels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("incoming", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint("incoming_not_negative", "incoming >= 0")

    forbid_changes("purchase_order_events")


def downgrade() -> None:
    allow_changes("purchase_order_events")
    with op.batch_alter_table("stock_levels", schema=None) as batch_op:
        batch_op.drop_constraint("incoming_not_negative", type_="check")
        batch_op.drop_column("incoming")

    with op.batch_alter_table("products", schema=None) as batch_op:
        for check in (
            "margin_in_range",
            "pack_size_positive",
            "reorder_point_not_negative",
            "reorder_quantity_positive",
        ):
            batch_op.drop_constraint(check, type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_products_supplier_id_suppliers"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_products_supplier_id"))
        batch_op.drop_column("pack_size")
        batch_op.drop_column("reorder_quantity")
        batch_op.drop_column("reorder_point")
        batch_op.drop_column("margin_pct")
        batch_op.drop_column("allow_backorder")
        batch_op.drop_column("supplier_id")

    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_purchase_order_lines_product_id")

    op.drop_table("purchase_order_lines")
    with op.batch_alter_table("purchase_order_events", schema=None) as batch_op:
        batch_op.drop_index("ix_purchase_order_events_purchase_order_id")

    op.drop_table("purchase_order_events")
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_purchase_orders_one_draft",
            sqlite_where=sa.text("status = 'draft'"),
            postgresql_where=sa.text("status = 'draft'"),
        )
        batch_op.drop_index("ix_purchase_orders_status")

    op.drop_table("purchase_orders")
    op.drop_table("suppliers")
