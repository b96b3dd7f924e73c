"""An order's history: a row for each thing that happened to it, written here only.

Nothing reads it back in the transaction that writes it, so its rows go with the
transaction's last statement (`galley.appends`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from galley.appends import append
from galley.orders.models import OrderEvent

_HISTORY = cast(Table, OrderEvent.__table__)


def record(session: AsyncSession, entries: Iterable[Mapping[str, Any]]) -> None:
    """Entries naming `order_number`, `type`, `from_status`, `to_status`, `cause`, `actor`,
    `data` and `created_at`."""
    append(session, _HISTORY, entries)
