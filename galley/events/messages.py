"""What travels through RabbitMQ: the names of the exchanges and queues, and the
messages — an event as `GET /v1/events` shows it, and the copies of one a consumer
failed on, which carry their attempts and last error."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractIncomingMessage

from galley.config import Settings
from galley.events.models import Event
from galley.events.schemas import EventOut

EXCHANGE = "galley.events"
RETRY_EXCHANGE = "galley.retry"
QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
# Headers on a message a consumer failed on; only `galley-` headers travel on with it.
ATTEMPTS = "galley-attempts"
ERROR = "galley-error"
WAIT = "galley-wait"
POSITION = "galley-position"
# The longest a failed event waits for its next attempt, however many attempts are allowed.
LONGEST_WAIT_MS = 3_600_000
# The longest error kept with a dead letter.
ERROR_CHARS = 500


def work_queue(consumer: str) -> str:
    return f"galley.{consumer}"


def dead_letter_queue(consumer: str) -> str:
    return f"galley.{consumer}.dead"


def retry_queue(wait_ms: int) -> str:
    return f"galley.retry.{wait_ms}ms"


def waits(settings: Settings) -> list[int]:
    """How long (ms) an event waits after each failed attempt but the last: doubling from
    `GALLEY_EVENTS_RETRY_SECONDS`, at most an hour."""
    first = max(1, round(settings.events_retry_seconds * 1000))
    return [min(first * 2**n, LONGEST_WAIT_MS) for n in range(settings.events_max_attempts - 1)]


def where(url: str) -> str:
    """The broker's host and port, for logs: never the password the URL holds."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (5671 if parts.scheme == 'amqps' else 5672)}"


def event_message(event: Event) -> Message:
    body = EventOut.model_validate(event, from_attributes=True).model_dump_json()
    return Message(
        body.encode(),
        content_type="application/json",
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=event.id,
        type=event.type,
        timestamp=event.occurred_at,
        headers={POSITION: event.position},
    )


def event_from(message: AbstractIncomingMessage) -> Event:
    """The event a message carries; ValidationError when it carries none."""
    item = EventOut.model_validate_json(message.body)
    position = (message.headers or {}).get(POSITION)
    return Event(
        id=item.id,
        type=item.type,
        version=item.version,
        occurred_at=item.occurred_at,
        data=item.data,
        position=position if isinstance(position, int) else None,
    )


def attempts(message: AbstractIncomingMessage) -> int:
    """How many times consumers have failed on this message so far."""
    value = (message.headers or {}).get(ATTEMPTS)
    return value if isinstance(value, int) else 0


def passed_on(message: AbstractIncomingMessage, headers: dict[str, Any]) -> Message:
    """A copy of `message` to send on, with its own `galley-` headers updated by `headers`
    (where None removes one); the broker's own headers stay behind."""
    kept = {k: v for k, v in (message.headers or {}).items() if k.startswith("galley-")}
    kept.update(headers)
    return Message(
        message.body,
        content_type=message.content_type,
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        type=message.type,
        timestamp=message.timestamp,
        headers={k: v for k, v in kept.items() if v is not None},
    )
