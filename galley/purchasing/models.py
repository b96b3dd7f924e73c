from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from galley.db import Base, BigId, UTCDateTime, utcnow
from galley.purchasing.rules import PO_STATUSES

_PO_STATUS_LIST = ", ".join(f"'{s}'" for s in PO_STATUSES)


class Supplier(Base):
    __tablename__ = "suppliers"
    __table_args__ = (
        CheckConstraint("lead_time_days BETWEEN 0 AND 365", name="lead_time_in_range"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    lead_time_days: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    auto_send: Mapped[bool] = mapped_column(Boolean, default=False)
    # Signs what is sent to `webhook_url`, sealed (`galley.privacy.keys`); after a rotation
    # the previous one signs too until `previous_webhook_secret_expires_at`.
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    previous_webhook_secret: Mapped[str | None] = mapped_column(Text)
    previous_webhook_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"
    __table_args__ = (
        CheckConstraint(f"status IN ({_PO_STATUS_LIST})", name="known_status"),
        # One open draft per supplier and location collects every shortfall there.
        Index(
            "uq_purchase_orders_one_draft",
            "supplier_id",
            "location_id",
            unique=True,
            sqlite_where=text("status = 'draft'"),
            postgresql_where=text("status = 'draft'"),
        ),
        Index("ix_purchase_orders_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "product_id"),
        CheckConstraint("quantity_ordered >= 0", name="ordered_not_negative"),
        CheckConstraint("quantity_received >= 0", name="received_not_negative"),
        CheckConstraint("unit_cost >= 0", name="unit_cost_not_negative"),
        Index("ix_purchase_order_lines_product_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    quantity_ordered: Mapped[int] = mapped_column(BigInteger)
    quantity_received: Mapped[int] = mapped_column(BigInteger, default=0)
    unit_cost: Mapped[int | None] = mapped_column(BigInteger)


class PurchaseOrderEvent(Base):
    """A purchase order's history, append-only; `sent` events are what suppliers get."""

    __tablename__ = "purchase_order_events"
    __table_args__ = (Index("ix_purchase_order_events_purchase_order_id", "purchase_order_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"))
    type: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    cause: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PurchaseOrderDispatch(Base):
    """A sent purchase order on its way to its supplier by one channel. While `pending`,
    `next_attempt_at` is when it may be tried, and during an attempt, how long the
    worker's claim on it lasts."""

    __tablename__ = "purchase_order_dispatches"
    __table_args__ = (
        # The event is consumed once, but a redelivered one must not send twice either.
        UniqueConstraint("event_id", "channel"),
        CheckConstraint("channel IN ('webhook', 'email')", name="known_channel"),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'skipped')", name="known_status"),
        Index("ix_purchase_order_dispatches_purchase_order_id", "purchase_order_id"),
        Index(
            "ix_purchase_order_dispatches_pending",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"))
    # The `purchase_order.sent` event: what is sent, and the webhook's id.
    event_id: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    # The URL or e-mail address, as the supplier had it when the order was sent.
    recipient: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Why the last attempt failed, or why the channel was skipped.
    error: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
