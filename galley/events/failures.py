"""Events a consumer failed on when there is no broker: tried again after doubling waits
(`GALLEY_EVENTS_RETRY_SECONDS`), and after `GALLEY_EVENTS_MAX_ATTEMPTS` set aside as a
dead letter, so that the events after it go on, as they do through RabbitMQ.

A failure is recorded in a transaction of its own, after the one that failed rolled
back. Until its next attempt is due the consumer goes no further than the failed event:
it still sees the stream in order. `galley events dead-letters` lists what was set aside
and `galley events retry` acts on it again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from galley.config import Settings
from galley.db import Database, insert_for, utcnow
from galley.events.messages import ERROR_CHARS, waits
from galley.events.models import ConsumerFailure, Event

log = structlog.get_logger("galley.events")


async def waiting(session: AsyncSession, consumer: str) -> dict[str, dt.datetime]:
    """The events this consumer is to try again, and when."""
    found = await session.execute(
        select(ConsumerFailure.event_id, ConsumerFailure.next_attempt_at).where(
            ConsumerFailure.consumer == consumer, ConsumerFailure.dead.is_(False)
        )
    )
    return {event_id: at for event_id, at in found if at is not None}


async def record_failure(
    session: AsyncSession, consumer: str, event: Event, error: Exception, settings: Settings
) -> bool:
    """Count a failed attempt; True when that was the last and the event is set aside."""
    settings_waits = waits(settings)
    now = utcnow()
    previous = (
        await session.execute(
            select(ConsumerFailure)
            .where(ConsumerFailure.consumer == consumer, ConsumerFailure.event_id == event.id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    attempts = (previous.attempts if previous else 0) + 1
    dead = attempts > len(settings_waits)
    values = {
        "attempts": attempts,
        "error": f"{type(error).__name__}: {error}"[:ERROR_CHARS],
        "next_attempt_at": None
        if dead
        else now + dt.timedelta(milliseconds=settings_waits[attempts - 1]),
        "dead": dead,
        "failed_at": now,
    }
    await session.execute(
        insert_for(session, ConsumerFailure.__table__)
        .values(consumer=consumer, event_id=event.id, **values)
        .on_conflict_do_update(index_elements=["consumer", "event_id"], set_=values)
    )
    context = {"consumer": consumer, "event_id": event.id, "type": event.type}
    log.warning("events.consumer_failed", **context, attempt=attempts, exc_info=error)
    if dead:
        log.error("events.dead_lettered", **context)
    return dead


async def forget(session: AsyncSession, consumer: str, event_id: str) -> None:
    """The event went through at last: nothing more to try."""
    await session.execute(
        delete(ConsumerFailure).where(
            ConsumerFailure.consumer == consumer, ConsumerFailure.event_id == event_id
        )
    )


async def dead_letters(
    database: Database, consumers: Sequence[str], *, limit: int
) -> list[tuple[ConsumerFailure, Event]]:
    """Up to `limit` set-aside events of each consumer, oldest first."""
    found = []
    async with database.transaction(read_only=True) as session:
        for consumer in consumers:
            rows = await session.execute(
                select(ConsumerFailure, Event)
                .join(Event, Event.id == ConsumerFailure.event_id)
                .where(ConsumerFailure.consumer == consumer, ConsumerFailure.dead.is_(True))
                .order_by(Event.position)
                .limit(limit)
            )
            found += [(failure, event) for failure, event in rows]
    return found
