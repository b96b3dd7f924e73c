"""The consumers a worker runs: each acts on the event types it names."""

from __future__ import annotations

from galley.config import Settings
from galley.events.relay import Consumer
from galley.purchasing.dispatch import queue_dispatches
from galley.webhooks.queue import queue_deliveries


def consumers(settings: Settings) -> list[Consumer]:
    """Every consumer of the stream. (The live fulfilment stream reads the stream itself,
    per API process, and needs no consumer.)"""
    return [
        # Subscriptions change at run time, so every event is looked at.
        Consumer("webhooks", frozenset(), queue_deliveries),
        Consumer("suppliers", frozenset({"purchase_order.sent"}), queue_dispatches),
    ]
