"""`galley worker`: the outbox's consumers, and what goes out beside them.

Each consumer acts on the event types it names, after the change that recorded them
committed (`galley.events`); what follows within a change's own transaction is in
`galley.reactions`.
"""

from __future__ import annotations

import asyncio
from functools import partial

from galley.config import Settings
from galley.db import Database
from galley.events.relay import Consumer
from galley.events.worker import run, run_with_broker
from galley.purchasing.dispatch import queue_dispatches
from galley.purchasing.sending import send_until_stopped
from galley.webhooks.delivery import deliver_until_stopped
from galley.webhooks.queue import queue_deliveries


def consumers(settings: Settings) -> list[Consumer]:
    """Every consumer of the stream. (The live fulfilment stream reads the stream itself,
    per API process, and needs no consumer.)"""
    return [
        # Subscriptions change at run time, so every event is looked at.
        Consumer("webhooks", frozenset(), partial(queue_deliveries, settings=settings)),
        Consumer(
            "suppliers",
            frozenset({"purchase_order.sent"}),
            partial(queue_dispatches, settings=settings),
        ),
    ]


async def run_until_stopped(settings: Settings, stop: asyncio.Event) -> None:
    """`galley worker`, and the worker inside `galley serve --with-worker`."""
    database = Database(settings)
    # Webhooks and purchase orders go out alongside the stream, so a slow receiver holds
    # up no event.
    sending = [
        asyncio.create_task(loop(database, stop, poll_seconds=settings.events_poll_seconds))
        for loop in (deliver_until_stopped, send_until_stopped)
    ]
    try:
        if settings.broker_url:
            await run_with_broker(database, consumers(settings), stop, settings)
        else:
            await run(
                database,
                consumers(settings),
                stop,
                poll_seconds=settings.events_poll_seconds,
                gather_seconds=settings.events_gather_seconds,
            )
    finally:
        if not stop.is_set():
            for task in sending:
                task.cancel()
        await asyncio.gather(*sending, return_exceptions=True)
        await database.dispose()
