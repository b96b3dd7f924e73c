from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from galley.db import Base, BigId, UTCDateTime, utcnow
from galley.inventory.rules import LEDGER_REASONS


class Location(Base):
    """A warehouse, shop or kitchen that holds stock."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockLevel(Base):
    """The figures of one product at one location.

    `on_hand` always equals the sum of the ledger; `reserved` is what open orders
    hold; `backordered` is what open orders wait for; `incoming` is what open purchase
    orders will still bring.
    """

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("product_id", "location_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        CheckConstraint("backordered >= 0", name="backordered_not_negative"),
        CheckConstraint("incoming >= 0", name="incoming_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    # 64-bit: sums of many large receipts and purchases must never overflow.
    on_hand: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    backordered: Mapped[int] = mapped_column(BigInteger, default=0)
    # Ordered from suppliers on open purchase orders and not yet received.
    incoming: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockLedgerEntry(Base):
    """One change of `on_hand`: append-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "stock_ledger"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_not_zero"),
        CheckConstraint(
            "reason IN (" + ", ".join(f"'{r}'" for r in LEDGER_REASONS) + ")", name="known_reason"
        ),
        Index("ix_stock_ledger_product_id_location_id", "product_id", "location_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
