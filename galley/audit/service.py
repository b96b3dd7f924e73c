"""Recording security events, and reading them back for administrators.

Events of a change that succeeds (an API key created, a role changed) are written in
the request's own transaction, so they exist exactly when the change does. Refusals
(a failed log-in, a denied permission) roll their request back, so they are written
after it, in a transaction of their own (`record_refusal`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import structlog
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from galley.audit.models import AuditEvent
from galley.db import Database, utcnow
from galley.http.paging import fetch_page

log = structlog.get_logger("galley.audit")

Kind = Literal[
    "login.succeeded",
    "login.failed",
    "login.throttled",
    "refresh_token.reused",
    "api_key.created",
    "api_key.revoked",
    "user.created",
    "user.changed",
    "permission.denied",
    "data_keys.rotated",
    "webhook_endpoint.created",
    "webhook_endpoint.changed",
    "webhook_endpoint.secret_rotated",
    "webhook_endpoint.deleted",
    "supplier.webhook_secret_rotated",
]
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True)
class Origin:
    """Who acted and from where: the principal, the client address, the request."""

    actor: str
    address: str | None = None
    request_id: str | None = None


CLI = Origin(actor="cli")


async def record(
    session: AsyncSession,
    origin: Origin,
    kind: Kind,
    *,
    subject: str | None = None,
    **data: Any,
) -> None:
    await session.execute(
        insert(AuditEvent).values(
            occurred_at=utcnow(),
            kind=kind,
            actor=origin.actor,
            subject=subject,
            address=origin.address,
            request_id=origin.request_id,
            data=data or None,
        )
    )


async def record_refusal(
    database: Database, origin: Origin, kind: Kind, *, subject: str | None, **data: Any
) -> None:
    """Record a refusal after its request rolled back. The refusal is answered even when
    the record cannot be written; the failure is logged."""
    try:
        async with database.transaction() as session:
            await record(session, origin, kind, subject=subject, **data)
    except (SQLAlchemyError, OSError):
        log.exception("audit.not_recorded", kind=kind)


async def list_events(
    session: AsyncSession,
    *,
    kind: Kind | None,
    actor: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[AuditEvent], str | None]:
    stmt = select(AuditEvent)
    if kind is not None:
        stmt = stmt.where(AuditEvent.kind == kind)
    if actor is not None:
        stmt = stmt.where(AuditEvent.actor == actor)
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < until)
    rows, next_cursor = await fetch_page(session, stmt, AuditEvent.id, cursor, limit)
    return [row[0] for row in rows], next_cursor
