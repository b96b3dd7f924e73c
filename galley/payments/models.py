from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from galley.db import Base, BigId, UTCDateTime
from galley.payments.rules import PAYMENT_STATUSES, REFUND_STATUSES

_PAYMENT_STATUSES = ", ".join(f"'{s}'" for s in PAYMENT_STATUSES)
_REFUND_STATUSES = ", ".join(f"'{s}'" for s in REFUND_STATUSES)


class Payment(Base):
    """One attempt to take an order's money through a gateway, in the shop currency.

    Recorded before the gateway is asked (`gateway_ref` empty until it answers), so that
    a process that dies in between leaves a row the worker finishes: the gateway is asked
    again with the same idempotency key, derived from `id`. At most one payment of an
    order is pending at a time."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(f"status IN ({_PAYMENT_STATUSES})", name="known_status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("capture IN ('automatic', 'on_ready')", name="known_capture"),
        Index("ix_payments_order_number", "order_number"),
        Index("uq_payments_gateway_ref", "gateway", "gateway_ref", unique=True),
        Index("uq_payments_request", "requested_by", "request_key", unique=True),
        Index(
            "uq_payments_one_pending_per_order",
            "order_number",
            unique=True,
            sqlite_where=sql("status = 'pending'"),
            postgresql_where=sql("status = 'pending'"),
        ),
    )

    number: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    order_number: Mapped[int] = mapped_column(ForeignKey("orders.number"))
    gateway: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    capture: Mapped[str] = mapped_column(String(10))
    # The gateway's own id of it (a Stripe PaymentIntent's `pi_…`), once it answered.
    gateway_ref: Mapped[str | None] = mapped_column(String(255))
    # What a front end completes it with (a PaymentIntent's client secret), sealed
    # (`galley.privacy.keys`): a secret of the customer's, never logged.
    client_secret: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str | None] = mapped_column(String(40))
    # Cash at the till: what the customer handed over, and what they got back.
    tendered: Mapped[int | None] = mapped_column(BigInteger)
    change: Mapped[int | None] = mapped_column(BigInteger)
    failure: Mapped[str | None] = mapped_column(String(500))
    # Who asked for it, with which Idempotency-Key and body (its fingerprint): asking
    # again with the key answers this payment as it stands.
    requested_by: Mapped[str] = mapped_column(String(100))
    request_key: Mapped[str | None] = mapped_column(String(255))
    request_print: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Refund(Base):
    """Money given back from a captured payment; like a payment, recorded before the
    gateway is asked."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(f"status IN ({_REFUND_STATUSES})", name="known_status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_refunds_payment_number", "payment_number"),
    )

    number: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    payment_number: Mapped[int] = mapped_column(ForeignKey("payments.number"))
    status: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))
    gateway_ref: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class GatewayNotice(Base):
    """A gateway's webhook event Galley has acted on: the same event again changes nothing."""

    __tablename__ = "gateway_notices"

    gateway: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
