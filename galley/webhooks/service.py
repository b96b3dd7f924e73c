"""Webhook endpoints and their delivery logs. They take the request's session and write
by statement; the edge commits.

A URL is looked up when it is registered or changed, within the request: the lookup is
bounded by `_LOOKUP_SECONDS`, and a name that does not resolve is refused.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galley.audit import service as audit
from galley.audit.service import Origin
from galley.config import Settings
from galley.db import insert_row, key_from, update_row, utcnow
from galley.http.paging import fetch_page
from galley.privacy.keys import DataKeys
from galley.webhooks.addresses import RefusedUrl, allowed_addresses

# What other areas send through: a claimed queue of signed messages to their addresses.
from galley.webhooks.delivery import attempt as attempt
from galley.webhooks.endpoints import SECRETS as SECRETS
from galley.webhooks.endpoints import view as view
from galley.webhooks.errors import (
    WebhookDeliveryNotFound,
    WebhookEndpointDisabled,
    WebhookEndpointNotFound,
    WebhookUrlRefused,
)
from galley.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from galley.webhooks.queue import CLAIM_MARGIN as CLAIM_MARGIN
from galley.webhooks.queue import claim as claim
from galley.webhooks.schemas import (
    DeliveryStatus,
    WebhookAttemptOut,
    WebhookDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointPatch,
)
from galley.webhooks.secrets import SigningSecrets as SigningSecrets

# A resolver that works answers in milliseconds; one that does not must not hold the
# request's transaction for long.
_LOOKUP_SECONDS = 3.0


async def check_url(url: str, settings: Settings) -> None:
    """Refuse (422) a URL Galley must not send to, under the settings for webhooks."""
    try:
        async with asyncio.timeout(_LOOKUP_SECONDS):
            await allowed_addresses(
                url,
                allow_insecure=settings.webhooks_allow_insecure,
                allow_private=settings.webhooks_allow_private,
            )
    except TimeoutError:
        raise WebhookUrlRefused(url, "has a host name that did not resolve in time") from None
    except RefusedUrl as exc:
        raise WebhookUrlRefused(url, str(exc)) from None


def _distinct(types: list[str]) -> list[str]:
    return list(dict.fromkeys(types))


async def create_endpoint(
    session: AsyncSession, new: WebhookEndpointCreate, settings: Settings, origin: Origin
) -> tuple[WebhookEndpoint, str]:
    """The endpoint and its signing secret, which is stored sealed and never shown again."""
    await check_url(new.url, settings)
    now = utcnow()
    secret, sealed = SECRETS.give(settings.sealing_keys)
    endpoint = await insert_row(
        session,
        WebhookEndpoint,
        {
            "url": new.url,
            "description": new.description,
            "event_types": _distinct(list(new.event_types)),
            "enabled": True,
            "created_at": now,
            "updated_at": now,
        }
        | sealed,
    )
    audit.record(
        session,
        origin,
        "webhook_endpoint.created",
        subject=f"webhook_endpoint:{endpoint.id}",
        url=endpoint.url,
        event_types=endpoint.event_types,
    )
    return endpoint, secret


async def get_endpoint(
    session: AsyncSession, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == key_from(endpoint_id))
    if for_update:
        stmt = stmt.with_for_update()
    endpoint = (await session.execute(stmt)).scalar_one_or_none()
    if endpoint is None:
        raise WebhookEndpointNotFound(endpoint_id)
    return endpoint


async def list_endpoints(
    session: AsyncSession, *, enabled: bool | None, cursor: str | None, limit: int
) -> tuple[list[WebhookEndpoint], str | None]:
    stmt = select(WebhookEndpoint)
    if enabled is not None:
        stmt = stmt.where(WebhookEndpoint.enabled.is_(enabled))
    rows, next_cursor = await fetch_page(session, stmt, WebhookEndpoint.id, cursor, limit)
    return [row[0] for row in rows], next_cursor


async def update_endpoint(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    patch: WebhookEndpointPatch,
    settings: Settings,
    origin: Origin,
) -> WebhookEndpoint:
    """Apply the fields sent. Enabling an endpoint again starts its failure clock afresh
    and resumes its pending deliveries, oldest first, at once."""
    changes = patch.model_dump(include=patch.model_fields_set)
    if "url" in changes and changes["url"] != endpoint.url:
        await check_url(changes["url"], settings)
    if "event_types" in changes:
        changes["event_types"] = _distinct(changes["event_types"])
    changed = {
        field: {"from": getattr(endpoint, field), "to": value}
        for field, value in changes.items()
        if value != getattr(endpoint, field)
    }
    if not changed:
        return endpoint
    now = utcnow()
    values = changes | {"updated_at": now}
    if "enabled" in changed:
        values |= {
            "disabled_reason": None if changes["enabled"] else "by_request",
            "failing_since": None,
        }
        if changes["enabled"]:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint.id)
                .where(WebhookDelivery.status == "pending")
                .values(next_attempt_at=now)
            )
    endpoint = await update_row(session, endpoint, values)
    audit.record(
        session,
        origin,
        "webhook_endpoint.changed",
        subject=f"webhook_endpoint:{endpoint.id}",
        **{field: values for field, values in changed.items() if field != "description"},
    )
    return endpoint


async def rotate_secret(
    session: AsyncSession, endpoint: WebhookEndpoint, keys: DataKeys, origin: Origin
) -> tuple[WebhookEndpoint, str]:
    """A new secret, shown once (`SigningSecrets.rotate`)."""
    now = utcnow()
    secret, previous_valid_until, sealed = SECRETS.rotate(keys, endpoint, now)
    endpoint = await update_row(session, endpoint, sealed | {"updated_at": now})
    audit.record(
        session,
        origin,
        "webhook_endpoint.secret_rotated",
        subject=f"webhook_endpoint:{endpoint.id}",
        previous_valid_until=previous_valid_until.isoformat(),
    )
    return endpoint, secret


async def delete_endpoint(session: AsyncSession, endpoint_id: str, origin: Origin) -> None:
    """The endpoint goes, with its delivery log; an attempt under way is not recorded."""
    deleted = (
        await session.execute(
            delete(WebhookEndpoint)
            .where(WebhookEndpoint.id == key_from(endpoint_id))
            .returning(WebhookEndpoint.id, WebhookEndpoint.url)
        )
    ).first()
    if deleted is None:
        raise WebhookEndpointNotFound(endpoint_id)
    audit.record(
        session,
        origin,
        "webhook_endpoint.deleted",
        subject=f"webhook_endpoint:{deleted.id}",
        url=deleted.url,
    )


async def list_deliveries(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    status: DeliveryStatus | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[WebhookDeliveryOut], str | None]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    rows, next_cursor = await fetch_page(session, stmt, WebhookDelivery.id, cursor, limit)
    return await _delivery_views(session, [row[0] for row in rows]), next_cursor


async def get_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str
) -> WebhookDeliveryOut:
    found = (
        await session.execute(
            select(WebhookDelivery).where(
                WebhookDelivery.id == key_from(delivery_id),
                WebhookDelivery.endpoint_id == endpoint.id,
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise WebhookDeliveryNotFound(str(endpoint.id), delivery_id)
    (delivery,) = await _delivery_views(session, [found])
    return delivery


async def redeliver(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str
) -> WebhookDeliveryOut:
    """Send a delivery's event again, as a new delivery behind the endpoint's others; the
    `webhook-id` stays the event's, so a receiver that keeps ids sees a repeat."""
    original = await get_delivery(session, endpoint, delivery_id)
    if not endpoint.enabled:
        raise WebhookEndpointDisabled(endpoint.id)
    now = utcnow()
    again = await insert_row(
        session,
        WebhookDelivery,
        {
            "endpoint_id": endpoint.id,
            "event_id": original.event_id,
            "event_type": original.event_type,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    (delivery,) = await _delivery_views(session, [again])
    return delivery


async def _delivery_views(
    session: AsyncSession, deliveries: list[WebhookDelivery]
) -> list[WebhookDeliveryOut]:
    """The deliveries with their attempts, in one more query."""
    attempts: dict[int, list[WebhookAttemptOut]] = defaultdict(list)
    if deliveries:
        found = await session.execute(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(WebhookAttempt.id)
        )
        for attempt in found.scalars():
            attempts[attempt.delivery_id].append(
                WebhookAttemptOut.model_validate(attempt, from_attributes=True)
            )
    return [
        WebhookDeliveryOut(
            id=str(d.id),
            event_id=d.event_id,
            event_type=d.event_type,
            status=d.status,
            next_attempt_at=d.next_attempt_at,
            created_at=d.created_at,
            attempts=attempts[d.id],
        )
        for d in deliveries
    ]
