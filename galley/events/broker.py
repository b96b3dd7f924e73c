"""Delivering events through RabbitMQ, when `GALLEY_BROKER_URL` names one.

The topology, all durable, declared by every worker before its relay publishes, so no
registered consumer misses an event:

- `galley.events`, a topic exchange. The relay publishes each event to it with the
  event's type as routing key, as a persistent JSON message shaped like an item of
  `GET /v1/events`, message id = event id, and waits for the broker's confirms inside its
  own transaction: what the broker has not confirmed stays pending and is sent again.
- `galley.<consumer>`, one quorum queue per consumer, bound to the types it acts on (all
  of them: `#`). Single active consumer: of several workers, one takes the queue at a
  time and the others stand by, so a consumer sees the events in stream order.
- `galley.retry`, a headers exchange, and `galley.retry.<ms>ms`, one quorum queue per
  waiting time. An event a consumer failed on waits in one of them; when its time is up
  the queue dead-letters it, by its routing key (the consumer's queue), through the
  default exchange, back into that consumer's queue only. One queue per waiting time,
  because a queue expires messages only from its head: a long wait would hold up the
  short ones queued behind it.
- `galley.<consumer>.dead`: the events a consumer failed on `GALLEY_EVENTS_MAX_ATTEMPTS`
  times, with the attempts and the last error, until `galley events retry` puts them back.

Acks are manual: a message is acked once its effect has committed, or once it has been
handed to a retry or dead-letter queue (confirmed), so a crash at any point redelivers it
and the consumer's inbox (`handle_once`) makes the second delivery change nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any

import aio_pika
import structlog
from aio_pika import ExchangeType
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from pydantic import ValidationError

from galley.config import Settings
from galley.db import Database
from galley.events.messages import (
    ATTEMPTS,
    ERROR,
    ERROR_CHARS,
    EXCHANGE,
    QUORUM,
    RETRY_EXCHANGE,
    WAIT,
    attempts,
    dead_letter_queue,
    event_from,
    event_message,
    passed_on,
    retry_queue,
    waits,
    where,
    work_queue,
)
from galley.events.models import Event
from galley.events.relay import Consumer, handle_once

log = structlog.get_logger("galley.events")

# Messages a consumer's worker holds beyond the one it handles: enough to hide the round
# trip of each ack, few enough that a worker that dies hands little back.
PREFETCH = 32
# How long the relay waits for the broker's confirms before it leaves its batch pending.
# Short, because on SQLite the relay holds the database's write lock while it waits.
CONFIRM_SECONDS = 5.0
# How soon a lost connection, or one that never came up, is tried again.
RECONNECT_SECONDS = 1.0


class BrokerUnavailable(Exception):
    """The broker does not answer now; what was to be sent stays in the outbox."""


class Broker:
    """A robust connection to RabbitMQ with the topology declared: it reconnects by
    itself, and restores its channels, queues and consumers when it does."""

    def __init__(
        self, settings: Settings, connection: AbstractRobustConnection, consumers: list[Consumer]
    ) -> None:
        self.settings = settings
        self.connection = connection
        self.consumers = consumers
        self._events: AbstractExchange | None = None
        self._lost_since: float | None = None

    @classmethod
    async def connect(cls, settings: Settings, consumers: Sequence[Consumer]) -> Broker:
        connection = await aio_pika.connect_robust(
            settings.broker_url.get_secret_value(),
            reconnect_interval=RECONNECT_SECONDS,
            timeout=CONFIRM_SECONDS,
        )
        broker = cls(settings, connection, list(consumers))
        try:
            await broker._declare()
        except BaseException:
            await connection.close()
            raise
        connection.close_callbacks.add(broker._lost)
        connection.reconnect_callbacks.add(broker._back)
        log.info(
            "broker.connected",
            broker=where(settings.broker_url.get_secret_value()),
            consumers=[c.name for c in consumers],
        )
        return broker

    async def _declare(self) -> None:
        channel = await self.connection.channel(on_return_raises=True)
        self._events = await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True)
        retry = await channel.declare_exchange(RETRY_EXCHANGE, ExchangeType.HEADERS, durable=True)
        for wait in sorted(set(waits(self.settings))):
            queue = await channel.declare_queue(
                retry_queue(wait),
                durable=True,
                arguments=QUORUM
                | {
                    "x-message-ttl": wait,
                    # Back into the queue named by the message's routing key.
                    "x-dead-letter-exchange": "",
                    # Kept in the waiting queue until the consumer's queue has it.
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
            await queue.bind(retry, arguments={"x-match": "all", WAIT: f"{wait}ms"})
        for consumer in self.consumers:
            queue = await channel.declare_queue(
                work_queue(consumer.name),
                durable=True,
                arguments=QUORUM | {"x-single-active-consumer": True},
            )
            for type in sorted(consumer.types) or ["#"]:
                await queue.bind(self._events, routing_key=type)
            await channel.declare_queue(
                dead_letter_queue(consumer.name), durable=True, arguments=QUORUM
            )

    async def publish(self, events: Sequence[Event]) -> None:
        """Send `events` and wait until the broker has confirmed every one; raises
        BrokerUnavailable otherwise, so that the relay's transaction rolls back."""
        if self._events is None or not self.connection.connected.is_set():
            raise BrokerUnavailable(
                f"no connection to {where(self.settings.broker_url.get_secret_value())}"
            )
        exchange = self._events
        try:
            async with asyncio.timeout(CONFIRM_SECONDS):
                # The channel writes messages in the order their publishing starts: the
                # stream's order. Confirms are awaited together, not one by one.
                results = await asyncio.gather(
                    *(exchange.publish(event_message(e), e.type, mandatory=False) for e in events),
                    return_exceptions=True,
                )
        except TimeoutError:
            raise BrokerUnavailable("the broker did not confirm in time") from None
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise BrokerUnavailable(
                f"{len(failed)} of {len(events)} events not confirmed"
            ) from failed[0]

    @asynccontextmanager
    async def consuming(self, database: Database) -> AsyncIterator[None]:
        """Each consumer takes its events from its queue while the block runs."""
        queues: list[ConsumerQueue] = []
        try:
            for consumer in self.consumers:
                queues.append(await ConsumerQueue.start(self, database, consumer))
            yield
        finally:
            for queue in queues:
                await queue.stop()

    async def close(self) -> None:
        self.connection.close_callbacks.discard(self._lost)
        await self.connection.close()

    def _lost(self, _: object, error: BaseException | None = None) -> None:
        """Called again on each failed attempt to reconnect; said once."""
        if self._lost_since is None:
            self._lost_since = time.monotonic()
            log.warning(
                "broker.connection_lost",
                broker=where(self.settings.broker_url.get_secret_value()),
                error=str(error or ""),
            )

    def _back(self, _: object) -> None:
        lost_since, self._lost_since = self._lost_since, None
        log.info(
            "broker.reconnected",
            broker=where(self.settings.broker_url.get_secret_value()),
            seconds_away=round(time.monotonic() - lost_since, 1) if lost_since else None,
        )


class ConsumerQueue:
    """One consumer acting on the messages of its queue, one at a time, in queue order."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        consumer: Consumer,
        channel: AbstractRobustChannel,
        retry: AbstractExchange,
    ) -> None:
        self.database = database
        self.consumer = consumer
        self._waits = waits(settings)
        self._max_attempts = settings.events_max_attempts
        self._channel = channel
        self._retry = retry
        self._inbox: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
        self._stopping = False
        self._task = asyncio.create_task(self._work())

    @classmethod
    async def start(cls, broker: Broker, database: Database, consumer: Consumer) -> ConsumerQueue:
        channel = await broker.connection.channel(on_return_raises=True)
        await channel.set_qos(prefetch_count=PREFETCH)
        retry = await channel.get_exchange(RETRY_EXCHANGE)
        queue = await channel.get_queue(work_queue(consumer.name))
        started = cls(broker.settings, database, consumer, channel, retry)
        try:
            # Deliveries are queued here and handled by one task: one at a time, in order.
            await queue.consume(started._inbox.put)
        except BaseException:
            await started.stop()
            raise
        return started

    async def stop(self) -> None:
        """Finish the message at hand; the ones not acked go back to the queue when the
        connection closes."""
        self._stopping = True
        self._inbox.put_nowait(None)
        await self._task

    async def _work(self) -> None:
        while (message := await self._inbox.get()) is not None and not self._stopping:
            try:
                await self._deliver(message)
            except Exception:
                log.exception("events.delivery_failed", consumer=self.consumer.name)

    async def _deliver(self, message: AbstractIncomingMessage) -> None:
        if message.channel.is_closed:
            return  # received before the connection was lost; the broker sends it again
        try:
            event = event_from(message)
        except ValidationError as exc:
            await self._failed(message, exc, last=True)
            return
        try:
            await self.database.run(partial(handle_once, consumer=self.consumer, event=event))
        except Exception as exc:
            await self._failed(message, exc, last=False)
            return
        await _settle(message, message.ack())

    async def _failed(self, message: AbstractIncomingMessage, error: Exception, last: bool) -> None:
        """Send the message to wait for its next attempt, or, after the last, to the
        consumer's dead letters; then ack it. If that cannot be done, it goes back to its
        queue as it was."""
        attempt = attempts(message) + 1
        last = last or attempt >= self._max_attempts
        context = {
            "consumer": self.consumer.name,
            "event_id": message.message_id,
            "type": message.type,
            "attempt": attempt,
        }
        log.warning("events.consumer_failed", **context, exc_info=error)
        headers: dict[str, Any] = {
            ATTEMPTS: attempt,
            ERROR: f"{type(error).__name__}: {error}"[:ERROR_CHARS],
        }
        try:
            async with asyncio.timeout(CONFIRM_SECONDS):
                if last:
                    await self._channel.default_exchange.publish(
                        passed_on(message, headers | {WAIT: None}),
                        dead_letter_queue(self.consumer.name),
                    )
                else:
                    wait = f"{self._waits[attempt - 1]}ms"
                    await self._retry.publish(
                        passed_on(message, headers | {WAIT: wait}),
                        work_queue(self.consumer.name),
                    )
        except Exception:
            log.warning("events.retry_not_queued", **context, exc_info=True)
            # Not at once: whatever refused the copy may need a moment.
            await asyncio.sleep(RECONNECT_SECONDS)
            await _settle(message, message.nack(requeue=True))
            return
        if last:
            log.error("events.dead_lettered", **context)
        await _settle(message, message.ack())


async def _settle(message: AbstractIncomingMessage, answer: Any) -> None:
    """Ack or nack; on a channel that is gone it is the broker that sends the message
    again, and the consumer's inbox makes that change nothing."""
    try:
        await answer
    except Exception:
        log.info("events.settle_failed", event_id=message.message_id)


async def connect(
    settings: Settings, consumers: Sequence[Consumer], stop: asyncio.Event
) -> Broker | None:
    """The broker, once it answers; tried again every second until then. None when told
    to stop first. Meanwhile events wait in the outbox."""
    while not stop.is_set():
        try:
            return await Broker.connect(settings, consumers)
        except Exception as exc:
            log.warning(
                "broker.connect_failed",
                broker=where(settings.broker_url.get_secret_value()),
                error=f"{type(exc).__name__}: {exc}",
            )
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RECONNECT_SECONDS)
    return None


class BrokerCheck:
    """Whether the broker answers, for /readyz: one connection kept between checks, and a
    channel opened and closed on it each time, which takes a round trip."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._lock = asyncio.Lock()

    async def answers(self, seconds: float = 2.0) -> bool:
        async with self._lock:
            try:
                async with asyncio.timeout(seconds):
                    if self._connection is None or self._connection.is_closed:
                        self._connection = await aio_pika.connect(self.url)
                    channel = await self._connection.channel(publisher_confirms=False)
                    await channel.close()
            except Exception:
                await self.close()
                return False
            return True

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(Exception):
                await connection.close()
