"""Sending purchase orders to suppliers: each due dispatch is claimed in a short
transaction, sent with no transaction open, and its attempt recorded in another short one
(`galley.purchasing.dispatch`).

A webhook is the `purchase_order.sent` event, signed with the supplier's own secret and
sent as every webhook is (`galley.webhooks.delivery`: the address checked, redirects not
followed). An e-mail carries the order's lines as plain text and as HTML; its Message-ID
comes from the event, so a supplier's mail system can tell a repeat from a new order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
from contextlib import suppress
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import partial
from typing import Any

import aiosmtplib
import structlog

from galley.config import Settings
from galley.db import Database, utcnow
from galley.money import shown
from galley.purchasing.dispatch import NO_MAIL_SERVER, Claim, claim_due, record_attempt
from galley.webhooks import service as webhooks

log = structlog.get_logger("galley.purchasing")

# Dispatches one process sends at once; purchase orders come a few an hour, not thousands.
CONCURRENT_SENDS = 10


def purchase_order_email(claim: Claim, sender: str) -> EmailMessage:
    """The purchase order as an e-mail to the supplier, plain text and HTML alike."""
    order: dict[str, Any] = claim.event.data
    rows = [
        (
            str(line["sku"]),
            str(line["quantity_ordered"]),
            "" if line["unit_cost"] is None else shown(**line["unit_cost"]),
        )
        for line in order["lines"]
    ]
    sent = dt.datetime.fromisoformat(str(order["sent_at"]))
    facts = [
        ("Purchase order", str(order["id"])),
        ("For", claim.supplier_name),
        ("Deliver to", f"location {order['location']}"),
        ("Sent", sent.strftime("%Y-%m-%d %H:%M %Z")),
    ]
    message = EmailMessage()
    message["Subject"] = f"Purchase order {order['id']}"
    message["From"] = sender
    message["To"] = claim.url
    message["Date"] = format_datetime(claim.event.occurred_at)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "galley.invalid"
    message["Message-ID"] = f"<{claim.event_id}.purchase-order-{order['id']}@{domain}>"
    message.set_content(_text(facts, rows))
    message.add_alternative(_html(facts, rows), subtype="html")
    return message


_HEADINGS = ("SKU", "Quantity", "Unit cost")


def _text(facts: list[tuple[str, str]], rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in [_HEADINGS, *rows]) for i in range(3)]
    table = [
        f"{sku:<{widths[0]}}  {quantity:>{widths[1]}}  {cost:>{widths[2]}}".rstrip()
        for sku, quantity, cost in [_HEADINGS, *rows]
    ]
    return "\n".join([*(f"{name}: {value}" for name, value in facts), "", *table, ""])


def _html(facts: list[tuple[str, str]], rows: list[tuple[str, str, str]]) -> str:
    def cells(tag: str, values: tuple[str, ...]) -> str:
        return "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values)

    return (
        "<!DOCTYPE html><html><body>"
        + "".join(f"<p><b>{html.escape(k)}:</b> {html.escape(v)}</p>" for k, v in facts)
        + "<table border='1' cellpadding='4' cellspacing='0'>"
        + f"<thead><tr>{cells('th', _HEADINGS)}</tr></thead><tbody>"
        + "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
        + "</tbody></table></body></html>\n"
    )


async def attempt(claim: Claim, settings: Settings) -> str | None:
    """Send the dispatch once: None when it went through, else why not. Never raises for
    anything the receiver, the mail server or the network does."""
    try:
        if claim.channel == "webhook":
            return await _post(claim, settings)
        return await _mail(claim, settings)
    except Exception as exc:
        log.exception("purchase_order.dispatch_crashed", dispatch_id=claim.dispatch_id)
        return f"unexpected error: {type(exc).__name__}"


async def _post(claim: Claim, settings: Settings) -> str | None:
    if not claim.secrets:
        return "not signed: the supplier no longer has a webhook_url"
    outcome = await webhooks.attempt(claim, settings)
    if outcome.succeeded:
        return None
    if outcome.error is not None:
        return outcome.error
    return f"answered {outcome.status_code}: {outcome.response_body or ''}"


async def _mail(claim: Claim, settings: Settings) -> str | None:
    server = settings.smtp_url
    if server is None:
        return NO_MAIL_SERVER
    try:
        await aiosmtplib.send(
            purchase_order_email(claim, settings.smtp_from),
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password.get_secret_value() if server.password else None,
            use_tls=server.tls == "implicit",
            start_tls={"required": True, "implicit": False}.get(server.tls),
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPException as exc:
        return f"the mail server refused it: {exc}"
    except OSError as exc:
        return f"could not reach the mail server: {exc}"
    return None


async def _attempt_and_record(database: Database, claim: Claim) -> None:
    attempted_at = utcnow()
    error = await attempt(claim, database.settings)
    try:
        await database.run(
            partial(
                record_attempt,
                claim=claim,
                attempted_at=attempted_at,
                error=error,
                settings=database.settings,
            )
        )
    except Exception:
        # The claim lapses and the dispatch is tried again: sent twice, never lost.
        log.exception("purchase_order.dispatch_not_recorded", dispatch_id=claim.dispatch_id)


async def send_due(database: Database, *, limit: int = CONCURRENT_SENDS) -> int:
    """Claim what is due and attempt it all at once; how many attempts were made."""
    async with database.transaction() as session:
        claims = await claim_due(session, database.settings, limit=limit)
    await asyncio.gather(*(_attempt_and_record(database, claim) for claim in claims))
    return len(claims)


async def send_until_stopped(
    database: Database, stop: asyncio.Event, *, poll_seconds: float
) -> None:
    """The worker's dispatch loop; a round that fails is logged and tried again."""
    while not stop.is_set():
        sent = 0
        try:
            sent = await send_due(database)
        except Exception:
            log.exception("purchase_order.dispatch_failed")
        if not sent:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)
