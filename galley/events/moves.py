"""Word that the published stream has moved, for processes that follow it (the live
fulfilment stream), so that they need not keep asking the database.

- With `GALLEY_BROKER_URL`: every event the relay publishes to RabbitMQ reaches a queue of
  the follower's own (exclusive, deleted when it goes), bound to the types it follows.
- Without, on PostgreSQL: the relay's transaction sends `NOTIFY galley_events, '<last
  position>'`, which PostgreSQL hands to every listening session once it commits.
- Without, on SQLite (one machine): there is no word; followers look at the stream.

Word is only a hint to look at the stream now: what a follower shows it reads from the
database, so a lost word delays a change, never drops it. Word from the broker can come
before the relay's transaction commits (the relay waits for the broker's confirms first),
so a follower that finds the stream short of the position it heard of looks again soon.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Coroutine
from typing import Any

import aio_pika
import structlog
from aio_pika import ExchangeType
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from galley.db import Database
from galley.events.messages import EXCHANGE, POSITION, where

log = structlog.get_logger("galley.events")

CHANNEL = "galley_events"
# How soon a lost connection, or one that never came up, is tried again.
RECONNECT_SECONDS = 1.0

Moved = Callable[[int], None]
Follow = Callable[[Moved], Coroutine[Any, Any, None]]


async def tell_moved(session: AsyncSession, position: int) -> None:
    """In the relay's transaction: on PostgreSQL, tell listeners once it commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, str(position))))


def follower(database: Database, types: Collection[str]) -> Follow | None:
    """How this process hears the stream move (events of `types` through the broker; any
    through PostgreSQL); None when it cannot and must look for itself. The function
    returned calls `moved(position)` on each word, and `moved(0)` whenever it
    (re)connects, as words may have been missed meanwhile; it runs until cancelled."""
    settings = database.settings
    if settings.broker_url:
        return lambda moved: _from_broker(settings.broker_url.get_secret_value(), types, moved)
    if not settings.is_sqlite:
        return lambda moved: _from_postgres(database, moved)
    return None


async def _from_postgres(database: Database, moved: Moved) -> None:
    def heard(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit():
            moved(int(payload))

    while True:
        try:
            async with database.engine.connect() as connection:
                listening = (await connection.get_raw_connection()).driver_connection
                assert listening is not None
                lost = asyncio.Event()

                def ended(_: Any, lost: asyncio.Event = lost) -> None:
                    lost.set()

                listening.add_termination_listener(ended)
                await listening.add_listener(CHANNEL, heard)
                moved(0)
                try:
                    await lost.wait()
                finally:
                    listening.remove_termination_listener(ended)
                    if not listening.is_closed():
                        await listening.remove_listener(CHANNEL, heard)
                    # Not back to the pool: nothing pings a connection it hands out.
                    await connection.invalidate()
            log.warning("events.listen_lost")
        except Exception as exc:
            log.warning("events.listen_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(RECONNECT_SECONDS)


async def _from_broker(url: str, types: Collection[str], moved: Moved) -> None:
    async def heard(message: AbstractIncomingMessage) -> None:
        position = (message.headers or {}).get(POSITION)
        if isinstance(position, int):
            moved(position)

    while True:
        try:
            connection = await aio_pika.connect_robust(url, reconnect_interval=RECONNECT_SECONDS)
            break
        except Exception as exc:
            log.warning(
                "events.follow_failed", broker=where(url), error=f"{type(exc).__name__}: {exc}"
            )
            await asyncio.sleep(RECONNECT_SECONDS)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True)
        # The process's own queue: nobody else reads it, and it goes when the process does.
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for routing_key in sorted(types):
            await queue.bind(exchange, routing_key=routing_key)
        await queue.consume(heard, no_ack=True)
        connection.reconnect_callbacks.add(lambda *_: moved(0))
        moved(0)
        await asyncio.Future()  # until cancelled
    finally:
        await connection.close()
