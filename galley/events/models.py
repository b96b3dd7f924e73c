from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from galley.db import Base, BigId, UTCDateTime


class Event(Base):
    """One business change (the outbox). `position` is given when the event is published:
    the order in which every consumer sees the stream."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_position", "position", unique=True),
        # What the relay looks for: the events not yet published, oldest first.
        Index(
            "ix_events_unpublished",
            "number",
            sqlite_where=text("position IS NULL"),
            postgresql_where=text("position IS NULL"),
        ),
    )

    number: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, object]] = mapped_column(JSON)
    position: Mapped[int | None] = mapped_column(BigInteger)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class EventStream(Base):
    """The last position given out; its row lock makes one relay publish at a time."""

    __tablename__ = "event_stream"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)


class ConsumerPosition(Base):
    """How far along the stream a consumer has acted."""

    __tablename__ = "consumer_positions"

    consumer: Mapped[str] = mapped_column(String(60), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)


class ConsumedEvent(Base):
    """A consumer's inbox: the events it has acted on, so a redelivery changes nothing."""

    __tablename__ = "consumed_events"

    consumer: Mapped[str] = mapped_column(String(60), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consumed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ConsumerFailure(Base):
    """An event a consumer failed on, without a broker: when to try it again, and once
    the attempts are spent (`dead`), set aside so the events after it go on."""

    __tablename__ = "consumer_failures"
    __table_args__ = (Index("ix_consumer_failures_dead", "dead", "consumer"),)

    consumer: Mapped[str] = mapped_column(String(60), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(String(500))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dead: Mapped[bool] = mapped_column(Boolean)
    failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
