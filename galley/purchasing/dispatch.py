"""Sent purchase orders on their way to suppliers.

The "suppliers" consumer turns each `purchase_order.sent` event into one dispatch per
channel the supplier has (its webhook URL, its e-mail address), in the transaction that
marks the event consumed. Workers then claim the due dispatches, send them with no
transaction open (`galley.purchasing.sending`), and record each attempt here: sent, tried
again on the webhook schedule (`GALLEY_WEBHOOKS_RETRY_SCHEDULE`), or failed once the
schedule is spent. A claim moves `next_attempt_at` past the longest an attempt can take,
so no other worker takes the dispatch meanwhile, and if its worker dies it is due again
once that time has passed: a dispatch may go out twice, never not at all.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any, Literal, cast

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galley.config import Settings
from galley.db import key_from, utcnow
from galley.events.schemas import EventOut
from galley.events.service import Event
from galley.privacy.keys import UnreadableData
from galley.purchasing import suppliers
from galley.purchasing.models import PurchaseOrder, PurchaseOrderDispatch, Supplier
from galley.webhooks import rules
from galley.webhooks.service import CLAIM_MARGIN, claim

log = structlog.get_logger("galley.purchasing")

Channel = Literal["webhook", "email"]
NO_MAIL_SERVER = "no mail server: GALLEY_SMTP_URL is not set"


async def queue_dispatches(session: AsyncSession, event: Event, *, settings: Settings) -> None:
    """The "suppliers" consumer: a dispatch for each way the supplier can be reached. An
    e-mail with no mail server configured is recorded as skipped, saying so."""
    supplier = (
        await session.execute(
            select(Supplier).where(Supplier.id == key_from(str(event.data["supplier"])))
        )
    ).scalar_one()
    now = utcnow()
    first = now + dt.timedelta(seconds=_delay(settings, 0) or 0)
    pending = {"status": "pending", "next_attempt_at": first, "error": None}
    ways: list[tuple[Channel, str, dict[str, Any]]] = []
    if supplier.webhook_url is not None:
        ways.append(("webhook", supplier.webhook_url, pending))
    if supplier.email is not None:
        unsent = {"status": "skipped", "next_attempt_at": None, "error": NO_MAIL_SERVER}
        ways.append(("email", supplier.email, pending if settings.smtp_url else unsent))
    rows = [
        {
            "purchase_order_id": key_from(str(event.data["id"])),
            "event_id": event.id,
            "channel": channel,
            "recipient": recipient,
            "attempts": 0,
            "created_at": now,
        }
        | state
        for channel, recipient, state in ways
    ]
    if rows:
        await session.execute(insert(PurchaseOrderDispatch), rows)
    else:
        log.info("purchase_order.not_dispatched", purchase_order_id=event.data["id"])


@dataclass(frozen=True)
class Claim:
    """A dispatch a worker may now attempt, with all the attempt needs."""

    dispatch_id: int
    channel: Channel
    until: dt.datetime
    url: str  # the recipient: a URL or an e-mail address
    supplier_name: str
    secrets: tuple[str, ...]  # sign a webhook
    event_id: str
    body: str  # the event as JSON
    event: EventOut


async def claim_due(session: AsyncSession, settings: Settings, *, limit: int) -> list[Claim]:
    now = utcnow()
    due = (
        select(PurchaseOrderDispatch.id)
        .where(
            PurchaseOrderDispatch.status == "pending",
            PurchaseOrderDispatch.next_attempt_at <= now,
        )
        .order_by(PurchaseOrderDispatch.next_attempt_at, PurchaseOrderDispatch.id)
        .limit(limit)
    )
    longest = max(settings.webhooks_timeout_seconds, settings.smtp_timeout_seconds)
    until = now + dt.timedelta(seconds=longest) + CLAIM_MARGIN
    claimed = await claim(session, PurchaseOrderDispatch, due, now=now, until=until)
    if not claimed:
        return []
    rows = (
        await session.execute(
            select(PurchaseOrderDispatch, Event, Supplier)
            .join(Event, Event.id == PurchaseOrderDispatch.event_id)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderDispatch.purchase_order_id)
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .where(PurchaseOrderDispatch.id.in_(claimed))
            .order_by(PurchaseOrderDispatch.id)
        )
    ).all()
    claims = []
    keys = settings.sealing_keys
    for dispatch, event, supplier in rows:
        try:
            secrets = (
                suppliers.SECRETS.signing(keys, supplier, now)
                if dispatch.channel == "webhook" and supplier.webhook_secret is not None
                else ()
            )
        except UnreadableData:
            # A data key is missing: this dispatch waits (its claim lapses), the others go on.
            log.error("supplier.secret_unreadable", supplier_id=supplier.id)
            continue
        shown = EventOut.model_validate(event, from_attributes=True)
        claims.append(
            Claim(
                dispatch_id=dispatch.id,
                channel=cast(Channel, dispatch.channel),
                until=until,
                url=dispatch.recipient,
                supplier_name=supplier.name,
                secrets=secrets,
                event_id=event.id,
                body=shown.model_dump_json(),
                event=shown,
            )
        )
    return claims


async def record_attempt(
    session: AsyncSession,
    claim: Claim,
    attempted_at: dt.datetime,
    error: str | None,
    settings: Settings,
) -> bool:
    """Record an attempt (`error` None when it went through) and what follows: done,
    another try per the schedule, or given up. False when the claim was lost (the attempt
    outlasted it): nothing is recorded then."""
    now = utcnow()
    values: dict[str, Any] = {
        "attempts": PurchaseOrderDispatch.attempts + 1,
        "last_attempt_at": attempted_at,
        "error": None if error is None else error[:300],
    }
    if error is None:
        values |= {"status": "sent", "sent_at": now, "next_attempt_at": None}
    else:
        attempts = (
            await session.execute(
                select(PurchaseOrderDispatch.attempts).where(
                    PurchaseOrderDispatch.id == claim.dispatch_id
                )
            )
        ).scalar_one()
        delay = _delay(settings, attempts + 1)
        values |= (
            {"status": "failed", "next_attempt_at": None}
            if delay is None
            else {"next_attempt_at": now + dt.timedelta(seconds=delay)}
        )
    recorded = (
        await session.execute(
            update(PurchaseOrderDispatch)
            .where(
                PurchaseOrderDispatch.id == claim.dispatch_id,
                PurchaseOrderDispatch.next_attempt_at == claim.until,
            )
            .values(values)
            .returning(PurchaseOrderDispatch.status)
        )
    ).scalar()
    if recorded is None:
        log.warning("purchase_order.dispatch_claim_lost", dispatch_id=claim.dispatch_id)
        return False
    log.info(
        "purchase_order.dispatch_attempted",
        dispatch_id=claim.dispatch_id,
        channel=claim.channel,
        status=recorded,
    )
    return True


def _delay(settings: Settings, attempts: int) -> float | None:
    return rules.retry_delay(
        settings.webhooks_retry_schedule,
        attempts,
        random.random(),  # noqa: S311
    )
