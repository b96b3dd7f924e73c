"""Reading a purchase order as the API shows it, and announcing what happened to one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import BigInteger, RowMapping, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from galley.changes import Announced
from galley.db import key_from, rows_from
from galley.events.service import EventType
from galley.http.paging import fetch_page
from galley.inventory.service import LOCATIONS
from galley.money import Money
from galley.purchasing.errors import PurchaseOrderNotFound
from galley.purchasing.models import (
    PurchaseOrder,
    PurchaseOrderDispatch,
    PurchaseOrderLine,
    Supplier,
)
from galley.purchasing.schemas import DispatchOut, PurchaseLineOut, PurchaseOrderOut

# How the order is on its way to the supplier: Galley's own record, not part of events.
_DISPATCH = frozenset({"dispatch"})


@dataclass(frozen=True)
class Loaded:
    order: PurchaseOrder
    supplier_currency: str
    location: str
    lines: list[PurchaseOrderLine]
    dispatches: list[PurchaseOrderDispatch]


def view(po: Loaded) -> PurchaseOrderOut:
    return PurchaseOrderOut(
        id=str(po.order.id),
        supplier=str(po.order.supplier_id),
        location=po.location,
        status=po.order.status,
        lines=[
            PurchaseLineOut(
                sku=line.sku,
                quantity_ordered=line.quantity_ordered,
                quantity_received=line.quantity_received,
                unit_cost=None
                if line.unit_cost is None
                else Money(amount=line.unit_cost, currency=po.supplier_currency),
            )
            for line in sorted(po.lines, key=lambda line: line.id)
        ],
        created_at=po.order.created_at,
        updated_at=po.order.updated_at,
        sent_at=po.order.sent_at,
        dispatch=[
            DispatchOut.model_validate(d, from_attributes=True)
            for d in sorted(po.dispatches, key=lambda d: d.id)
        ],
    )


# A purchase order with its supplier's currency, its location's code, its lines and its
# dispatches, in one statement: a row for each line and dispatch together (a few of the
# latter at most), put back together by `_loaded`.
_WHOLE = (
    select(
        PurchaseOrder, Supplier.currency, LOCATIONS.c.code, PurchaseOrderLine, PurchaseOrderDispatch
    )
    .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
    .join(LOCATIONS, LOCATIONS.c.id == PurchaseOrder.location_id)
    .outerjoin(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == PurchaseOrder.id)
    .outerjoin(PurchaseOrderDispatch, PurchaseOrderDispatch.purchase_order_id == PurchaseOrder.id)
)


async def load(session: AsyncSession, po_id: str, *, for_update: bool = False) -> Loaded:
    stmt = _WHOLE.where(PurchaseOrder.id == key_from(po_id))
    if for_update:
        stmt = stmt.with_for_update(of=PurchaseOrder)
    found = await _loaded(session, stmt)
    if not found:
        raise PurchaseOrderNotFound(po_id)
    return found[0]


async def _loaded(session: AsyncSession, stmt: Select[Any]) -> list[Loaded]:
    """The purchase orders `stmt` (`_WHOLE`, narrowed) reads, in id order."""
    whole: dict[int, Loaded] = {}
    lines: dict[int, dict[int, PurchaseOrderLine]] = defaultdict(dict)
    sent: dict[int, dict[int, PurchaseOrderDispatch]] = defaultdict(dict)
    for order, currency, code, line, dispatch in await session.execute(stmt):
        whole.setdefault(order.id, Loaded(order, currency, code, [], []))
        if line is not None:
            lines[order.id][line.id] = line
        if dispatch is not None:
            sent[order.id][dispatch.id] = dispatch
    return [
        replace(po, lines=list(lines[po_id].values()), dispatches=list(sent[po_id].values()))
        for po_id, po in sorted(whole.items())
    ]


async def list_purchase_orders(
    session: AsyncSession,
    *,
    status: str | None,
    supplier: str | None,
    location: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[PurchaseOrderOut], str | None]:
    stmt: Select[PurchaseOrder, str, str] = (
        select(PurchaseOrder, Supplier.currency, LOCATIONS.c.code)
        .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .join(LOCATIONS, LOCATIONS.c.id == PurchaseOrder.location_id)
    )
    if status is not None:
        stmt = stmt.where(PurchaseOrder.status == status)
    if supplier is not None:
        stmt = stmt.where(PurchaseOrder.supplier_id == key_from(supplier))
    if location is not None:
        stmt = stmt.where(LOCATIONS.c.code == location)
    rows, next_cursor = await fetch_page(session, stmt, PurchaseOrder.id, cursor, limit)
    lines, dispatches = await _details(session, [order.id for order, _, _ in rows])
    shown = [view(Loaded(o, cur, code, lines[o.id], dispatches[o.id])) for o, cur, code in rows]
    return shown, next_cursor


async def _details(
    session: AsyncSession, ids: list[int]
) -> tuple[dict[int, list[PurchaseOrderLine]], dict[int, list[PurchaseOrderDispatch]]]:
    """The lines and the dispatches of each purchase order, in one query (by the ids
    given, not the purchase orders' rows again)."""
    lines: dict[int, dict[int, PurchaseOrderLine]] = {i: {} for i in ids}
    dispatches: dict[int, dict[int, PurchaseOrderDispatch]] = {i: {} for i in ids}
    if ids:
        listed = rows_from(session, "listed", [{"id": i} for i in ids], id=BigInteger())
        found = await session.execute(
            select(listed.c.id, PurchaseOrderLine, PurchaseOrderDispatch)
            .select_from(listed)
            .outerjoin(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == listed.c.id)
            .outerjoin(
                PurchaseOrderDispatch, PurchaseOrderDispatch.purchase_order_id == listed.c.id
            )
        )
        for po_id, line, dispatch in found:
            if line is not None:
                lines[po_id][line.id] = line
            if dispatch is not None:
                dispatches[po_id][dispatch.id] = dispatch
    return (
        {i: list(found.values()) for i, found in lines.items()},
        {i: list(found.values()) for i, found in dispatches.items()},
    )


async def announced(
    session: AsyncSession,
    type: EventType,
    po_ids: Iterable[int],
    made: Mapping[int, Mapping[str, Any]],
) -> Announced:
    """`type` for each purchase order, as it stands now: read whole, but for those `made`
    by the change (`PurchaseOrdersAnnounced`), whose lines and dispatches only are read."""
    whole = set(po_ids) - set(made)
    found = await _loaded(session, _WHOLE.where(PurchaseOrder.id.in_(whole))) if whole else []
    if made:
        lines, sent = await _details(session, sorted(made))
        for po_id, row in sorted(made.items()):
            order = PurchaseOrder(**{column: row[column] for column in _COLUMNS})
            found.append(Loaded(order, row["currency"], row["location"], lines[po_id], sent[po_id]))
    return announcement(type, sorted(found, key=lambda po: po.order.id))


_COLUMNS = tuple(column.name for column in PurchaseOrder.__table__.columns)


def made(row: RowMapping, location: str) -> dict[str, Any]:
    """A purchase order a statement made, as `PurchaseOrdersAnnounced.made` holds it: from
    a row of its columns and its supplier's `currency`, with its location's code."""
    return {column: row[column] for column in (*_COLUMNS, "currency")} | {"location": location}


def announcement(type: EventType, loaded: Iterable[Loaded]) -> Announced:
    """`type` for each of these purchase orders, as they are given."""
    return Announced(type, [view(po) for po in loaded], _DISPATCH)
