"""The consumers a worker runs: each acts on the event types it names."""

from __future__ import annotations

from galley.config import Settings
from galley.events.relay import Consumer
from galley.webhooks.queue import queue_deliveries


def consumers(settings: Settings) -> list[Consumer]:
    """Webhook delivery, purchase orders to suppliers and the live fulfilment stream
    register here as they are built."""
    return [
        # Subscriptions change at run time, so every event is looked at.
        Consumer("webhooks", frozenset(), queue_deliveries),
    ]
