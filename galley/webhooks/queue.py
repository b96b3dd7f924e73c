"""The delivery queue: events become deliveries, workers claim the due ones, and each
attempt's outcome decides what comes next.

Each endpoint's pending deliveries go out one at a time, oldest first: a later event is
not tried before an earlier one has succeeded or been given up, so an endpoint receives
events in the order they were first attempted. Only the oldest pending delivery of an
endpoint can be claimed, and claiming it moves its `next_attempt_at` past the longest an
attempt can take: no other worker claims it meanwhile, and if its worker dies, it is due
again once that time has passed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galley.config import Settings
from galley.db import update_row, utcnow
from galley.events import service as events
from galley.events.schemas import EventOut
from galley.privacy.keys import DataKeys, UnreadableData
from galley.webhooks import endpoints, rules
from galley.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

log = structlog.get_logger("galley.webhooks")

# Beyond the attempt's own limit, to cover a slow commit or a paused process.
CLAIM_MARGIN = dt.timedelta(seconds=30)


async def queue_deliveries(
    session: AsyncSession, event: events.Event, *, settings: Settings
) -> None:
    """The "webhooks" consumer: one delivery per enabled endpoint subscribed to the event's
    type, in the transaction that marks the event consumed, so each is queued once."""
    endpoints = (
        await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
                WebhookEndpoint.enabled.is_(True)
            )
        )
    ).all()
    subscribed = [row.id for row in endpoints if event.type in row.event_types]
    if not subscribed:
        return
    delay = rules.retry_delay(settings.webhooks_retry_schedule, 0, random.random())  # noqa: S311
    now = utcnow()
    first = now + dt.timedelta(seconds=delay or 0)
    await session.execute(
        insert(WebhookDelivery),
        [
            {
                "endpoint_id": endpoint_id,
                "event_id": event.id,
                "event_type": event.type,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": first,
                "created_at": now,
            }
            for endpoint_id in subscribed
        ],
    )


async def claim(
    session: AsyncSession,
    model: type[Any],
    due: Select[int],
    *,
    now: dt.datetime,
    until: dt.datetime,
) -> list[int]:
    """Claim the rows of `model` (with `id`, `status` and `next_attempt_at`) whose ids `due`
    selects: lock them, skipping those another worker is claiming (PostgreSQL), and move
    their `next_attempt_at` to `until` while they are still pending and due. The ids
    claimed."""
    ids = list((await session.execute(due.with_for_update(of=model, skip_locked=True))).scalars())
    if not ids:
        return []
    claimed = await session.execute(
        update(model)
        .where(model.id.in_(ids), model.status == "pending", model.next_attempt_at <= now)
        .values(next_attempt_at=until)
        .returning(model.id)
    )
    return list(claimed.scalars())


@dataclass(frozen=True)
class Claim:
    """A delivery a worker may now attempt, with all the attempt needs."""

    delivery_id: int
    endpoint_id: int
    until: dt.datetime
    url: str
    secrets: tuple[str, ...]
    event_id: str
    body: str


@dataclass(frozen=True)
class Outcome:
    attempted_at: dt.datetime
    duration_ms: int
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and rules.succeeded(self.status_code)


async def claim_due(session: AsyncSession, settings: Settings, *, limit: int) -> list[Claim]:
    """Claim up to `limit` due deliveries, each the oldest pending one of its endpoint."""
    now = utcnow()
    oldest = (
        select(func.min(WebhookDelivery.id).label("id"))
        .where(WebhookDelivery.status == "pending")
        .group_by(WebhookDelivery.endpoint_id)
        .subquery()
    )
    due = (
        select(WebhookDelivery.id)
        .join(oldest, oldest.c.id == WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.enabled.is_(True), WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    until = now + dt.timedelta(seconds=settings.webhooks_timeout_seconds) + CLAIM_MARGIN
    claimed = await claim(session, WebhookDelivery, due, now=now, until=until)
    if not claimed:
        return []
    rows = (
        await session.execute(
            select(WebhookDelivery, WebhookEndpoint, events.Event)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(events.Event, events.Event.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id.in_(claimed))
            .order_by(WebhookDelivery.id)
        )
    ).all()
    claims = []
    keys = settings.sealing_keys
    for delivery, endpoint, event in rows:
        try:
            claims.append(_claim(delivery, endpoint, event, until, now, keys))
        except UnreadableData:
            # A data key is missing: this endpoint waits (its claim lapses), the others go on.
            log.error("webhook.secret_unreadable", endpoint_id=endpoint.id)
    return claims


def _claim(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    event: events.Event,
    until: dt.datetime,
    now: dt.datetime,
    keys: DataKeys,
) -> Claim:
    secrets = endpoints.SECRETS.signing(keys, endpoint, now)
    body = EventOut.model_validate(event, from_attributes=True).model_dump_json()
    return Claim(
        delivery_id=delivery.id,
        endpoint_id=endpoint.id,
        until=until,
        url=endpoint.url,
        secrets=secrets,
        event_id=event.id,
        body=body,
    )


async def record_attempt(
    session: AsyncSession, claim: Claim, outcome: Outcome, settings: Settings
) -> bool:
    """Record the attempt and decide what follows: done, another try per the schedule, or
    given up. An endpoint that has failed for `GALLEY_WEBHOOKS_DISABLE_AFTER` is disabled,
    with an event saying so. False when the claim was lost (the endpoint was deleted, or the
    attempt outlasted its claim): nothing is recorded then."""
    now = utcnow()
    if outcome.succeeded:
        status, next_attempt_at = "succeeded", None
    else:
        attempts = (
            await session.execute(
                select(WebhookDelivery.attempts).where(WebhookDelivery.id == claim.delivery_id)
            )
        ).scalar()
        delay = rules.retry_delay(
            settings.webhooks_retry_schedule,
            (attempts or 0) + 1,
            random.random(),  # noqa: S311
        )
        status = "pending" if delay is not None else "failed"
        next_attempt_at = None if delay is None else now + dt.timedelta(seconds=delay)
    recorded = (
        await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == claim.delivery_id,
                WebhookDelivery.next_attempt_at == claim.until,
            )
            .values(
                status=status,
                attempts=WebhookDelivery.attempts + 1,
                next_attempt_at=next_attempt_at,
            )
            .returning(WebhookDelivery.id)
        )
    ).scalar()
    if recorded is None:
        log.warning("webhook.claim_lost", delivery_id=claim.delivery_id)
        return False
    await session.execute(
        insert(WebhookAttempt).values(
            delivery_id=claim.delivery_id,
            attempted_at=outcome.attempted_at,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            response_body=outcome.response_body,
            error=outcome.error,
        )
    )
    if outcome.succeeded:
        await session.execute(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id == claim.endpoint_id, WebhookEndpoint.failing_since.is_not(None)
            )
            .values(failing_since=None)
        )
    else:
        await _count_failure(
            session, claim.endpoint_id, outcome.attempted_at, now, settings.webhooks_disable_after
        )
    return True


async def _count_failure(
    session: AsyncSession,
    endpoint_id: int,
    attempted_at: dt.datetime,
    now: dt.datetime,
    disable_after: dt.timedelta,
) -> None:
    endpoint = (
        await session.execute(
            select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
        )
    ).scalar_one()
    failing_since = endpoint.failing_since or attempted_at
    if endpoint.enabled and rules.should_disable(failing_since, now, disable_after):
        endpoint = await update_row(
            session,
            endpoint,
            {
                "failing_since": failing_since,
                "enabled": False,
                "disabled_reason": "failing",
                "updated_at": now,
            },
        )
        events.record(session, "webhook_endpoint.disabled", endpoints.view(endpoint))
        log.warning(
            "webhook.endpoint_disabled",
            endpoint_id=endpoint_id,
            failing_since=failing_since.isoformat(),
        )
    elif endpoint.failing_since is None:
        await update_row(session, endpoint, {"failing_since": failing_since})
