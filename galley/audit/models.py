from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from galley.db import Base, BigId, UTCDateTime, utcnow


class AuditEvent(Base):
    """One security event: append-only (database triggers refuse changes)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_kind_id", "kind", "id"),
        Index("ix_audit_events_actor_id", "actor", "id"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    # Who acted ("user:7", "api_key:3", "anonymous", "cli") and whom it concerned.
    actor: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(100))
    # The client address, kept to trace abuse such as password guessing.
    address: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(128))
    data: Mapped[dict[str, object] | None] = mapped_column(JSON)
