from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from galley.db import Base, BigId, UTCDateTime, utcnow
from galley.orders.rules import MAX_QUANTITY, STATUSES

_STATUS_LIST = ", ".join(f"'{s}'" for s in STATUSES)


class Order(Base):
    """`number` is the short number staff call out; `id` is the opaque id clients use."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_LIST})", name="known_status"),
        CheckConstraint("total_amount >= 0", name="total_not_negative"),
        Index("ix_orders_location_id_status", "location_id", "status"),
        Index("ix_orders_status", "status"),
        Index("ix_orders_customer_ref", "customer_ref"),
    )

    number: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    # The customer who placed it, from their token; staff orders have none.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    customer_ref: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    # Whom to deliver to: name, phone and address, sealed together (`galley.privacy`).
    delivery: Mapped[str | None] = mapped_column(Text)
    total_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_number", "product_id"),
        CheckConstraint(f"quantity BETWEEN 1 AND {MAX_QUANTITY}", name="quantity_in_range"),
        CheckConstraint("allocated >= 0 AND backordered >= 0", name="parts_not_negative"),
        CheckConstraint("allocated + backordered = quantity", name="parts_add_up"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        Index("ix_order_lines_product_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_number: Mapped[int] = mapped_column(ForeignKey("orders.number", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    allocated: Mapped[int] = mapped_column(Integer)
    backordered: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(BigInteger)


class OrderEvent(Base):
    """One entry of an order's history: append-only (database triggers refuse changes)."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_number", "order_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_number: Mapped[int] = mapped_column(ForeignKey("orders.number"))
    type: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    cause: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
