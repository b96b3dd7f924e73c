"""The worker's loop: publishes the outbox and runs the consumers, until told to stop
(`galley.worker` says which consumers, and what else runs beside them).

Several workers may run at once, in any processes: one publishes at a time (the stream's
row lock), and a consumer's position and inbox keep each event's effects to one. With
GALLEY_BROKER_URL the relay publishes to RabbitMQ and each consumer takes its events from
its own queue there (`galley/events/broker.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress

import structlog

from galley.config import Settings
from galley.db import Database
from galley.events import broker
from galley.events.relay import (
    CONSUME_BATCH,
    PUBLISH_BATCH,
    Consumer,
    Publish,
    consume_pending,
    publish_pending,
)

log = structlog.get_logger("galley.events")


async def run(
    database: Database,
    consumers: Sequence[Consumer],
    stop: asyncio.Event,
    *,
    poll_seconds: float,
    gather_seconds: float,
    publish: Publish | None = None,
) -> None:
    """Work while there is work: at once after a round that found a full batch, after
    `gather_seconds` after one that found less (a steady trickle is taken in fewer, fuller
    rounds, each of which costs its transactions however few events it finds); when there
    is none, look again every `poll_seconds`."""
    log.info("worker.started", consumers=[c.name for c in consumers])
    while not stop.is_set():
        done, full = await _step(database, consumers, publish)
        if not full:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), gather_seconds if done else poll_seconds)
    log.info("worker.stopped")


async def _step(
    database: Database, consumers: Sequence[Consumer], publish: Publish | None
) -> tuple[int, bool]:
    """One round: how many events it went through, and whether a batch was full (more
    wait). A failing step is logged and tried again next round, from where it was."""
    done, full = 0, False
    try:
        published = await publish_pending(database, publish)
        done, full = published, published >= PUBLISH_BATCH
    except broker.BrokerUnavailable:
        pass  # said once, when the connection was lost; the events wait in the outbox
    except Exception:
        log.exception("events.publish_failed")
    for consumer in consumers:
        try:
            consumed = await consume_pending(database, consumer)
            done, full = done + consumed, full or consumed >= CONSUME_BATCH
        except Exception:
            log.exception("events.consumer_failed", consumer=consumer.name)
    return done, full


async def run_with_broker(
    database: Database, consumers: Sequence[Consumer], stop: asyncio.Event, settings: Settings
) -> None:
    """The relay publishes to RabbitMQ, and each consumer takes its events from its own
    queue there. Until the broker answers, and whenever it stops answering, events wait
    in the outbox; the connection comes back by itself."""
    connected = await broker.connect(settings, consumers, stop)
    if connected is None:
        return
    try:
        async with connected.consuming(database):
            await run(
                database,
                [],
                stop,
                poll_seconds=settings.events_poll_seconds,
                gather_seconds=settings.events_gather_seconds,
                publish=connected.publish,
            )
    finally:
        await connected.close()
