"""Recording security events, and reading them back for administrators.

Events of a change that succeeds (an API key created, a role changed) are written in
the request's own transaction, so they exist exactly when the change does. Refusals
(a failed log-in, a denied permission) roll their request back: the error names what
it leaves (`GalleyError.aftermath`), which is settled after it, in a transaction of its
own (`galley.reactions.settle_aftermath`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

import structlog
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from galley.appends import append
from galley.audit.models import AuditEvent
from galley.changes import AUDIT_KINDS, Audited, AuditKind, Change
from galley.changes import Origin as Origin
from galley.config import Settings
from galley.db import utcnow
from galley.http.paging import fetch_page

log = structlog.get_logger("galley.audit")
_ENTRIES = cast(Table, AuditEvent.__table__)

Kind = AuditKind
KINDS = AUDIT_KINDS


CLI = Origin(actor="cli")
ANONYMOUS = Origin(actor="anonymous")


def record(
    session: AsyncSession,
    origin: Origin,
    kind: Kind,
    *,
    subject: str | None = None,
    **data: Any,
) -> None:
    """An entry, written as the transaction commits (`galley.appends`)."""
    entry = {
        "occurred_at": utcnow(),
        "kind": kind,
        "actor": origin.actor,
        "subject": subject,
        "address": origin.address,
        "request_id": origin.request_id,
        "data": data or None,
    }
    append(session, _ENTRIES, [entry])


async def record_audited(
    session: AsyncSession, audited: Audited, settings: Settings
) -> list[Change]:
    record(
        session, audited.origin or ANONYMOUS, audited.kind, subject=audited.subject, **audited.data
    )
    return []


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
