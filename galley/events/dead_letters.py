"""The events consumers gave up on: listed (`galley events dead-letters`) and given a
fresh set of attempts (`galley events retry`). With a broker they are kept in RabbitMQ;
without, in the database (`galley.events.failures`).

In RabbitMQ both read a dead-letter queue with basic.get and without acking, so whatever
they leave goes back to the queue when their channel closes; a letter put back is acked
only after the broker has confirmed its copy in the consumer's queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aio_pika.exceptions import ChannelNotFoundEntity

from galley.config import Settings
from galley.db import Database
from galley.events import failures
from galley.events.broker import CONFIRM_SECONDS
from galley.events.messages import (
    ATTEMPTS,
    ERROR,
    WAIT,
    attempts,
    dead_letter_queue,
    passed_on,
    where,
    work_queue,
)
from galley.events.relay import Consumer, retry_set_aside

_Take = Callable[[], Awaitable[AbstractIncomingMessage | None]]


class DeadLettersUnavailable(Exception):
    """The broker does not answer, or has no dead-letter queue for a consumer named."""


@dataclass(frozen=True)
class DeadLetter:
    consumer: str
    event_id: str
    type: str
    attempts: int
    error: str


async def listed(
    settings: Settings, consumers: Sequence[Consumer], consumer: str | None, *, limit: int
) -> list[DeadLetter]:
    """Up to `limit` dead letters of the consumer named (of each of `consumers`, if none),
    oldest first, wherever they are kept."""
    names = [consumer] if consumer else [c.name for c in consumers]
    if settings.broker_url:
        return await dead_letters(settings.broker_url.get_secret_value(), names, limit=limit)
    database = Database(settings)
    try:
        found = await failures.dead_letters(database, names, limit=limit)
    finally:
        await database.dispose()
    return [DeadLetter(f.consumer, e.id, e.type, f.attempts, f.error) for f, e in found]


async def retried(
    settings: Settings, consumers: Sequence[Consumer], consumer: str | None, *, event_id: str | None
) -> str:
    """Give the dead letters of the consumer named (of each of `consumers`, if none; only
    `event_id`'s, if given) a fresh set of attempts; what was done, in a line."""
    if settings.broker_url:
        names = [consumer] if consumer else [c.name for c in consumers]
        done = await requeue(settings.broker_url.get_secret_value(), names, event_id=event_id)
        return f"{done} dead letter{'' if done == 1 else 's'} put back in the queue"
    # Acted on here and now, so by a consumer this process runs.
    chosen = [c for c in consumers if consumer is None or c.name == consumer]
    if not chosen:
        raise DeadLettersUnavailable(f"there is no consumer {consumer!r}")
    database = Database(settings)
    try:
        through, failed = await retry_set_aside(database, chosen, event_id=event_id)
    finally:
        await database.dispose()
    return f"{through} dead letter{'' if through == 1 else 's'} acted on; {failed} failed again"


async def dead_letters(url: str, consumers: Sequence[str], *, limit: int) -> list[DeadLetter]:
    """Up to `limit` dead letters of each consumer, oldest first; they stay where they are."""
    found = []
    async with _connection(url) as connection:
        for consumer in consumers:
            async with _reading(connection, consumer) as (_, count, take):
                for _ in range(min(count, limit)):
                    message = await take()
                    if message is None:
                        break
                    found.append(_letter(consumer, message))
    return found


async def requeue(url: str, consumers: Sequence[str], *, event_id: str | None = None) -> int:
    """Put the dead letters of `consumers` (only `event_id`'s, if given) back in their
    queues with their attempts reset; how many. The ones found here once are not read
    again, even if they fail again meanwhile."""
    done = 0
    async with _connection(url) as connection:
        for consumer in consumers:
            async with _reading(connection, consumer) as (channel, count, take):
                for _ in range(count):
                    message = await take()
                    if message is None:
                        break
                    if event_id is not None and message.message_id != event_id:
                        continue  # unacked: back in the dead-letter queue when we are done
                    again = passed_on(message, {ATTEMPTS: None, ERROR: None, WAIT: None})
                    await channel.default_exchange.publish(
                        again, work_queue(consumer), timeout=CONFIRM_SECONDS
                    )
                    await message.ack()
                    done += 1
    return done


def _letter(consumer: str, message: AbstractIncomingMessage) -> DeadLetter:
    error = (message.headers or {}).get(ERROR)
    return DeadLetter(
        consumer=consumer,
        event_id=message.message_id or "",
        type=message.type or "",
        attempts=attempts(message),
        error=error.decode() if isinstance(error, bytes) else str(error or ""),
    )


@asynccontextmanager
async def _connection(url: str) -> AsyncIterator[AbstractConnection]:
    try:
        connection = await aio_pika.connect(url, timeout=CONFIRM_SECONDS)
    except Exception as exc:
        raise DeadLettersUnavailable(f"RabbitMQ at {where(url)} does not answer: {exc}") from None
    async with connection:
        yield connection


@asynccontextmanager
async def _reading(
    connection: AbstractConnection, consumer: str
) -> AsyncIterator[tuple[AbstractChannel, int, _Take]]:
    """A channel, the number of letters in the consumer's dead-letter queue, and a way to
    take the next one unacked; closing the channel returns the unacked ones."""
    channel = await connection.channel(on_return_raises=True)
    try:
        queue = await channel.declare_queue(dead_letter_queue(consumer), passive=True)
    except ChannelNotFoundEntity:
        raise DeadLettersUnavailable(
            f"RabbitMQ has no queue {dead_letter_queue(consumer)}: is {consumer!r} a consumer "
            "that a worker has run?"
        ) from None
    count = queue.declaration_result.message_count or 0

    async def take() -> AbstractIncomingMessage | None:
        return await queue.get(no_ack=False, fail=False, timeout=CONFIRM_SECONDS)

    async with channel:
        yield channel, count, take
