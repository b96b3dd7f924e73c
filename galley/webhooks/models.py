from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from galley.db import Base, BigId, UTCDateTime


class WebhookEndpoint(Base):
    """Where events of some types are sent. The signing secrets are sealed
    (`galley.privacy.keys`); the previous one signs too until `previous_secret_expires_at`."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(
            "disabled_reason IN ('by_request', 'failing')", name="known_disabled_reason"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(20))
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The first failed attempt since the last success: how long the endpoint has failed.
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event to one endpoint. An endpoint's pending deliveries go out one at a time,
    oldest first; `next_attempt_at` is when the oldest may be tried, and while an attempt
    is under way, how long its worker's claim lasts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="known_status"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # What the delivery loop looks for: each endpoint's oldest pending delivery.
        Index(
            "ix_webhook_deliveries_pending",
            "endpoint_id",
            "id",
            sqlite_where=sql("status = 'pending'"),
            postgresql_where=sql("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One try of a delivery, and what the receiver answered (its first KiB)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id_id", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    # Why no answer came (timeout, refused address, connection failed).
    error: Mapped[str | None] = mapped_column(String(300))
