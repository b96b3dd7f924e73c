"""Sending webhooks. Each due delivery is claimed in a short transaction, sent with no
transaction open, and its attempt recorded in another short one (`galley.webhooks.queue`).

A request goes to an address `addresses.allowed_addresses` has just checked, with the
URL's own host in `Host` and, over TLS, as the name the certificate must match: the name
is not looked up again between the check and the connection. Redirects are not followed,
proxy settings of the environment are ignored, and no more than the first KiB of an
answer is read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ssl
import time
from contextlib import suppress
from functools import partial
from typing import Any, Protocol

import httpx
import structlog
from standardwebhooks import Webhook

from galley.config import Settings
from galley.db import Database, utcnow
from galley.webhooks import rules
from galley.webhooks.addresses import RefusedUrl, allowed_addresses
from galley.webhooks.queue import Claim, Outcome, claim_due, record_attempt
from galley.webhooks.rules import IPAddress

log = structlog.get_logger("galley.webhooks")

# Endpoints one process sends to at once; each takes at most GALLEY_WEBHOOKS_TIMEOUT_SECONDS.
CONCURRENT_SENDS = 20
USER_AGENT = "Galley-Webhooks/1"


def signature(secrets: tuple[str, ...], message_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of id.timestamp.body>` per secret, space-separated: during a
    rotation's overlap a receiver holding either secret finds a match."""
    at = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)


class SignedRequest(Protocol):
    """A POST to make: where, its body, its id, and the secrets that sign it."""

    @property
    def url(self) -> str: ...
    @property
    def secrets(self) -> tuple[str, ...]: ...
    @property
    def event_id(self) -> str: ...
    @property
    def body(self) -> str: ...


def signed_headers(claim: SignedRequest, timestamp: int) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        # Compressed answers are not asked for: only the first KiB is kept, as it comes.
        "accept-encoding": "identity",
        "webhook-id": claim.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(claim.secrets, claim.event_id, timestamp, claim.body),
    }


def pinned(url: str, address: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """`url` aimed at `address`: the request URL, and the `Host` header and TLS server
    name of the URL's own host, so the receiver and its certificate are checked as usual."""
    original = httpx.URL(url)
    extensions: dict[str, Any] = {}
    if original.scheme == "https":
        extensions["sni_hostname"] = original.raw_host.decode("ascii")
    return (
        original.copy_with(host=str(address)),
        {"host": original.netloc.decode("ascii")},
        extensions,
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    """One context for every attempt: loading the trusted certificates is not free."""
    return httpx.create_ssl_context()


async def attempt(claim: SignedRequest, settings: Settings) -> Outcome:
    """POST the delivery once; the answer, or why there was none. Never raises for
    anything the receiver or the network does."""
    attempted_at = utcnow()
    started = time.monotonic()
    timeout = settings.webhooks_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            addresses = await allowed_addresses(
                claim.url,
                allow_insecure=settings.webhooks_allow_insecure,
                allow_private=settings.webhooks_allow_private,
            )
            status_code, answer = await _post(claim, addresses, timeout)
    except (TimeoutError, httpx.TimeoutException):
        error = f"no answer within {timeout:g} s"
    except RefusedUrl as exc:
        error = f"refused: url {exc}"
    except httpx.HTTPError as exc:
        error = f"{_kind(exc)}: {exc}"
    except Exception as exc:
        # Counted as a failure like any other, so the delivery is not retried unrecorded.
        log.exception("webhook.attempt_crashed", event_id=claim.event_id)
        error = f"unexpected error: {type(exc).__name__}"
    else:
        return Outcome(attempted_at, _ms_since(started), status_code, answer)
    return Outcome(attempted_at, _ms_since(started), error=error[:300])


async def _post(
    claim: SignedRequest, addresses: list[IPAddress], seconds: float
) -> tuple[int, str]:
    headers = signed_headers(claim, int(time.time()))
    body = claim.body.encode()
    async with httpx.AsyncClient(
        verify=_tls(), trust_env=False, follow_redirects=False, timeout=seconds
    ) as client:
        for address in addresses[:-1]:
            with suppress(httpx.ConnectError):
                return await _send(client, claim.url, address, headers, body)
        return await _send(client, claim.url, addresses[-1], headers, body)


async def _send(
    client: httpx.AsyncClient,
    url: str,
    address: IPAddress,
    headers: dict[str, str],
    body: bytes,
) -> tuple[int, str]:
    target, host, extensions = pinned(url, address)
    async with client.stream(
        "POST", target, content=body, headers=headers | host, extensions=extensions
    ) as response:
        kept = b""
        async for chunk in response.aiter_raw():
            kept += chunk
            if len(kept) >= rules.KEPT_ANSWER_BYTES:
                break
    text = kept[: rules.KEPT_ANSWER_BYTES].decode("utf-8", errors="replace")
    # PostgreSQL text holds no NUL character.
    return response.status_code, text.replace("\x00", "\ufffd")


def _kind(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the answer was not valid HTTP"
    return type(exc).__name__


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


async def _attempt_and_record(database: Database, claim: Claim) -> None:
    outcome = await attempt(claim, database.settings)
    try:
        await database.run(
            partial(record_attempt, claim=claim, outcome=outcome, settings=database.settings)
        )
    except Exception:
        # The claim lapses and the delivery is tried again: sent twice, never lost.
        log.exception("webhook.not_recorded", delivery_id=claim.delivery_id)
        return
    log.info(
        "webhook.attempted",
        delivery_id=claim.delivery_id,
        endpoint_id=claim.endpoint_id,
        status_code=outcome.status_code,
        succeeded=outcome.succeeded,
        duration_ms=outcome.duration_ms,
    )


async def _claim(database: Database, limit: int) -> list[Claim]:
    async with database.transaction() as session:
        return await claim_due(session, database.settings, limit=limit)


async def deliver_due(database: Database, *, limit: int = CONCURRENT_SENDS) -> int:
    """Claim what is due and attempt it all at once; how many attempts were made."""
    claims = await _claim(database, limit)
    await asyncio.gather(*(_attempt_and_record(database, claim) for claim in claims))
    return len(claims)


async def deliver_until_stopped(
    database: Database, stop: asyncio.Event, *, poll_seconds: float
) -> None:
    """The worker's delivery loop. Each attempt runs on its own, so a receiver that takes
    its full time holds up no other endpoint; when stopped, attempts under way finish and
    are recorded."""
    sending: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        claims: list[Claim] = []
        room = CONCURRENT_SENDS - len(sending)
        if room > 0:
            try:
                claims = await _claim(database, room)
            except Exception:
                log.exception("webhook.claim_failed")
        for claim in claims:
            task = asyncio.create_task(_attempt_and_record(database, claim))
            sending.add(task)
            task.add_done_callback(sending.discard)
        if not claims:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)
    await asyncio.gather(*sending)
