"""A purchase order's history: a row for each thing that happened to it, written here only.

Nothing reads it back in the transaction that writes it, so its rows go with the
transaction's last statement, or a statement that carries them (`galley.appends`)."""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from galley.appends import append
from galley.db import utcnow
from galley.purchasing.models import PurchaseOrderEvent

_HISTORY = cast(Table, PurchaseOrderEvent.__table__)


def record(
    session: AsyncSession,
    po_ids: list[int],
    kind: str,
    from_status: str | None,
    to_status: str | None,
    cause: str,
    actor: str,
    data: list[dict[str, object] | None] | None = None,
    *,
    at: dt.datetime | None = None,
) -> None:
    """The same entry in the history of each of these purchase orders; `data`, when given,
    holds each one's own."""
    at = at or utcnow()
    append(
        session,
        _HISTORY,
        [
            {
                "purchase_order_id": po_id,
                "type": kind,
                "from_status": from_status,
                "to_status": to_status,
                "cause": cause,
                "actor": actor,
                "data": None if data is None else data[n],
                "created_at": at,
            }
            for n, po_id in enumerate(po_ids)
        ],
    )
