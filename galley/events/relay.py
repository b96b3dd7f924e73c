"""Publishing the outbox, and handing published events to consumers.

Publishing gives each pending event the next position of the stream, under the row
lock of `event_stream`: one relay publishes at a time, in whatever process, so the
positions are the order every consumer sees (on PostgreSQL other relays skip the locked
row rather than wait). With a broker, the events are sent to it inside that same
transaction, with publisher confirms: if the process dies before the commit, the events
stay pending and are sent again — delivered twice, never lost; consumers' inboxes make
the second delivery change nothing.

Without a broker, consumers read the stream themselves from their own position, a batch
of events in one transaction with the effects they cause and the position they move to.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import cast

import structlog
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from galley.db import Database, insert_for, update_row, utcnow
from galley.events import failures
from galley.events.models import ConsumedEvent, ConsumerPosition, Event, EventStream
from galley.events.moves import tell_moved

log = structlog.get_logger("galley.events")

_EVENTS = cast(Table, Event.__table__)
_PUBLISH = (
    update(_EVENTS)
    .where(_EVENTS.c.number == bindparam("event"))
    .values(position=bindparam("at"), published_at=bindparam("now"))
)

Publish = Callable[[Sequence[Event]], Awaitable[None]]
Handle = Callable[[AsyncSession, Event], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    """Acts on events of `types` (all, when empty). `handle` runs in a transaction that
    commits with the event marked as consumed, so its effects happen once."""

    name: str
    types: frozenset[str]
    handle: Handle

    def wants(self, event_type: str) -> bool:
        return not self.types or event_type in self.types


# The most events one round publishes, or hands one consumer.
PUBLISH_BATCH = 500
CONSUME_BATCH = 100


async def publish_pending(
    database: Database, publish: Publish | None = None, *, batch: int = PUBLISH_BATCH
) -> int:
    """Publish up to `batch` pending events, oldest first; how many were published."""
    async with database.transaction() as session:
        stream = await _locked_stream(session)
        if stream is None:
            return 0  # another relay is publishing
        pending = list(
            (
                await session.execute(
                    select(Event)
                    .where(Event.position.is_(None))
                    .order_by(Event.number)
                    .limit(batch)
                )
            ).scalars()
        )
        if not pending:
            return 0
        now = utcnow()
        published = [
            {"event": event.number, "at": stream.position + offset, "now": now}
            for offset, event in enumerate(pending, start=1)
        ]
        await session.execute(_PUBLISH, published)
        for event, values in zip(pending, published, strict=True):
            set_committed_value(event, "position", values["at"])
            set_committed_value(event, "published_at", now)
        stream = await update_row(session, stream, {"position": stream.position + len(pending)})
        await tell_moved(session, stream.position)
        if publish is not None:
            await publish(pending)
    log.debug("events.published", count=len(pending), last=stream.position)
    return len(pending)


async def _locked_stream(session: AsyncSession) -> EventStream | None:
    """The outbox's stream row, locked; made on the first publish. None while another
    relay holds it (on PostgreSQL the row is skipped, not waited for)."""
    locked = (
        select(EventStream).where(EventStream.name == "outbox").with_for_update(skip_locked=True)
    )
    stream = (await session.execute(locked)).scalar_one_or_none()
    if stream is None:
        await session.execute(
            insert_for(session, EventStream.__table__)
            .values(name="outbox", position=0)
            .on_conflict_do_nothing()
        )
        stream = (await session.execute(locked)).scalar_one_or_none()
    return stream


async def handle_once(session: AsyncSession, consumer: Consumer, event: Event) -> bool:
    """Act on `event` unless this consumer already has: the inbox. False for a repeat."""
    if not await _first_time(session, consumer.name, [event]):
        return False
    await consumer.handle(session, event)
    return True


async def _first_time(session: AsyncSession, consumer: str, events: Sequence[Event]) -> set[str]:
    """Enter `events` in the consumer's inbox; the ids of those it had not seen."""
    now = utcnow()
    entered = await session.execute(
        insert_for(session, ConsumedEvent.__table__)
        .on_conflict_do_nothing()
        .returning(ConsumedEvent.event_id),
        [{"consumer": consumer, "event_id": event.id, "consumed_at": now} for event in events],
    )
    return set(entered.scalars())


async def consume_pending(
    database: Database, consumer: Consumer, *, batch: int = CONSUME_BATCH
) -> int:
    """Act on the published events past the consumer's position, in order; how many were
    gone past. The events go through in one transaction, with the position they move to,
    but for one the consumer failed on before: that one is tried again alone, when its wait
    is over (`galley.events.failures`), and the consumer goes no further until then. Once
    its attempts are spent it is set aside and the consumer goes on."""
    async with database.transaction(read_only=True) as session:
        start = await _position(session, consumer.name)
        events = list(
            (
                await session.execute(
                    select(Event)
                    .where(Event.position > start)
                    .order_by(Event.position)
                    .limit(batch)
                )
            ).scalars()
        )
        retries = await failures.waiting(session, consumer.name) if events else {}
    done = 0
    while events:
        due = retries.get(events[0].id)
        if due is None:
            run = list(itertools.takewhile(lambda event: event.id not in retries, events))
            gone, go_on = await _go_past(database, consumer, run)
        elif due > utcnow():
            break
        else:
            run = events[:1]
            gone, go_on = await _go_past(database, consumer, run, retry=True)
        done += gone
        if not go_on:
            break
        events = events[len(run) :]
    return done


async def _go_past(
    database: Database, consumer: Consumer, events: list[Event], *, retry: bool = False
) -> tuple[int, bool]:
    """Act on `events` in one transaction. If the consumer fails on one, those before it
    are acted on in a transaction of their own, the failure is counted, and the consumer
    stops there, unless the event is now set aside; how many were gone past, and whether
    to go on."""
    reached = _Reached()
    try:
        await database.run(
            partial(_act, consumer=consumer, events=events, retry=retry, reached=reached)
        )
    except Exception as exc:
        before, failed, after = events[: reached.at], events[reached.at], events[reached.at + 1 :]
        done, go_on = await _go_past(database, consumer, before) if before else (0, True)
        if not go_on:
            return done, False
        async with database.transaction() as session:
            if not await failures.record_failure(
                session, consumer.name, failed, exc, database.settings
            ):
                return done, False
            await _claim(session, consumer.name, failed)  # set aside: go on past it
        rest, go_on = await _go_past(database, consumer, after) if after else (0, True)
        return done + 1 + rest, go_on
    return len(events), True


@dataclass
class _Reached:
    """The index of the event `_act` was on: the one it failed on, if it fails."""

    at: int = 0


async def _act(
    session: AsyncSession,
    *,
    consumer: Consumer,
    events: list[Event],
    retry: bool,
    reached: _Reached,
) -> None:
    reached.at = 0
    if not await _claim(session, consumer.name, events[-1]):
        return  # another worker of this consumer got past them
    wanted = [event for event in events if consumer.wants(event.type)]
    first = await _first_time(session, consumer.name, wanted) if wanted else set()
    for reached.at, event in enumerate(events):
        if event.id in first:
            await consumer.handle(session, event)
    if retry:
        await failures.forget(session, consumer.name, events[0].id)


async def _act_again(session: AsyncSession, *, consumer: Consumer, event: Event) -> None:
    await handle_once(session, consumer, event)
    await failures.forget(session, consumer.name, event.id)


async def retry_set_aside(
    database: Database, consumers: Sequence[Consumer], *, event_id: str | None = None
) -> tuple[int, int]:
    """Act again on the events `consumers` set aside (only `event_id`, if given); how many
    went through, and how many failed again (they stay set aside, with the new error)."""
    through = failed = 0
    for consumer in consumers:
        found = await failures.dead_letters(database, [consumer.name], limit=10_000)
        for _, event in found:
            if event_id is not None and event.id != event_id:
                continue
            try:
                await database.run(partial(_act_again, consumer=consumer, event=event))
            except Exception as exc:
                async with database.transaction() as session:
                    await failures.record_failure(
                        session, consumer.name, event, exc, database.settings
                    )
                failed += 1
            else:
                through += 1
    return through, failed


async def _position(session: AsyncSession, consumer: str) -> int:
    found = (
        await session.execute(
            select(ConsumerPosition.position).where(ConsumerPosition.consumer == consumer)
        )
    ).scalar()
    return found or 0


async def _claim(session: AsyncSession, consumer: str, event: Event) -> bool:
    """Move the consumer's position to `event`, in the transaction that acts on it; False
    when another worker of the same consumer has got past it already."""
    await session.execute(
        insert_for(session, ConsumerPosition.__table__)
        .values(consumer=consumer, position=0)
        .on_conflict_do_nothing()
    )
    moved = await session.execute(
        update(ConsumerPosition)
        .where(ConsumerPosition.consumer == consumer, ConsumerPosition.position < event.position)
        .values(position=event.position)
        .returning(ConsumerPosition.position)
    )
    return moved.scalar() is not None
