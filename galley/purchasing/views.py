"""Reading a purchase order as the API shows it, and announcing what happened to one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy import BigInteger, RowMapping, Select, and_, event, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

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
    """The purchase order as it stands; locked, it is then held (`hold`)."""
    stmt = _WHOLE.where(PurchaseOrder.id == key_from(po_id))
    if for_update:
        stmt = stmt.with_for_update(of=PurchaseOrder)
    found = await _loaded(session, stmt)
    if not found:
        raise PurchaseOrderNotFound(po_id)
    if for_update:
        hold(session, found[0])
    return found[0]


async def _loaded(session: AsyncSession, stmt: Select[Any]) -> list[Loaded]:
    """The purchase orders `stmt` (`_WHOLE`, narrowed) reads, in id order."""
    whole: dict[int, Loaded] = {}
    lines: dict[int, dict[int, PurchaseOrderLine]] = defaultdict(dict)
    sent: dict[int, dict[int, PurchaseOrderDispatch]] = defaultdict(dict)
    # Fresh, whatever the session read before: a row is read under its lock here, and
    # others after a statement changed them.
    read = await session.execute(stmt.execution_options(populate_existing=True))
    for order, currency, code, line, dispatch in read:
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
            .execution_options(populate_existing=True)
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


async def announced(session: AsyncSession, type: EventType, po_ids: Iterable[int]) -> Announced:
    """`type` for each purchase order, as it stands now (`current`)."""
    return announcement(type, await current(session, po_ids))


def announcement(type: EventType, loaded: Iterable[Loaded]) -> Announced:
    """`type` for each of these purchase orders, as they are given."""
    return Announced(type, [view(po) for po in loaded], _DISPATCH)


# ---- what the transaction holds ----------------------------------------------------------
#
# A purchase order that a transaction has locked is kept as its own writes leave it, so
# that what it answers and announces is not read again: every write to a held purchase
# order or its lines tells this section what it changed (the way `inventory.levels`
# keeps the stock rows it locked). Lines added by a statement that returns nothing are
# read when first wanted. All of it is let go when the transaction or a savepoint ends:
# the purchase orders are then read again.

_HELD = "galley.purchasing.held"
_COLUMNS = tuple(column.name for column in PurchaseOrder.__table__.columns)


@dataclass
class _Holding:
    """A purchase order as the transaction holds it: its row, its supplier's currency, its
    location's code, and its lines by product and its dispatches once read (`lines` None:
    not yet), but for the lines of the `unread` products."""

    order: PurchaseOrder
    currency: str
    location: str
    lines: dict[int, PurchaseOrderLine] | None
    dispatches: list[PurchaseOrderDispatch]
    unread: set[int] = field(default_factory=set)


def _held(session: AsyncSession) -> dict[int, _Holding]:
    held: dict[int, _Holding] = session.info.setdefault(_HELD, {})
    return held


@event.listens_for(Session, "after_transaction_end")
def _let_go(session: Session, _transaction: object) -> None:
    session.info.pop(_HELD, None)


def hold(session: AsyncSession, po: Loaded) -> None:
    """`po`, read whole under its lock: kept as the transaction leaves it from now on."""
    lines = {line.product_id: line for line in po.lines}
    _held(session)[po.order.id] = _Holding(
        po.order, po.supplier_currency, po.location, lines, po.dispatches
    )


def hold_draft(session: AsyncSession, row: RowMapping, location: str) -> None:
    """A draft whose row (its columns and its supplier's `currency`) the statement that
    locked it returned; its lines are read when wanted (a draft has no dispatches)."""
    if row["id"] not in _held(session):
        order = PurchaseOrder(**{column: row[column] for column in _COLUMNS})
        _held(session)[row["id"]] = _Holding(order, row["currency"], location, None, [])


def held_drafts(session: AsyncSession) -> list[PurchaseOrder]:
    """The drafts that the transaction holds."""
    return [held.order for held in _held(session).values() if held.order.status == "draft"]


def written(session: AsyncSession, po_id: int, values: Mapping[str, Any]) -> None:
    """A statement set these columns of the purchase order's row."""
    if held := _held(session).get(po_id):
        for name, value in values.items():
            set_committed_value(held.order, name, value)


def lines_written(
    session: AsyncSession,
    po_id: int,
    column: str,
    by_product: Mapping[int, Any],
    *,
    added: bool = False,
) -> None:
    """A statement set one column of the purchase order's lines, by product; `added`: it
    added the values, and made the lines of products the order did not have."""
    held = _held(session).get(po_id)
    if held is None or held.lines is None:
        return
    for product_id, value in by_product.items():
        line = held.lines.get(product_id)
        if line is None:
            held.unread.add(product_id)
        elif product_id not in held.unread:
            set_committed_value(line, column, getattr(line, column) + value if added else value)


def lines_gone(session: AsyncSession, po_id: int, product_ids: Iterable[int]) -> None:
    if (held := _held(session).get(po_id)) and held.lines is not None:
        for product_id in product_ids:
            held.lines.pop(product_id, None)


def lines_made(session: AsyncSession, po_id: int, lines: Iterable[PurchaseOrderLine]) -> None:
    """New lines of the purchase order, as the statement that made them returned them."""
    if (held := _held(session).get(po_id)) and held.lines is not None:
        held.lines |= {line.product_id: line for line in lines}


async def current(session: AsyncSession, po_ids: Iterable[int]) -> list[Loaded]:
    """These purchase orders as they stand in the transaction, in id order: those it holds
    as it left them, reading only what of them it has not read; the others read whole."""
    ids = sorted(set(po_ids))
    held = _held(session)
    others = [i for i in ids if i not in held]
    whole = await _loaded(session, _WHOLE.where(PurchaseOrder.id.in_(others))) if others else []
    found = {po.order.id: po for po in whole}
    await _read_lines(session, [held[i] for i in ids if i in held])
    for i in ids:
        if i in held:
            h = held[i]
            lines = list((h.lines or {}).values())
            found[i] = Loaded(h.order, h.currency, h.location, lines, h.dispatches)
    return [found[i] for i in ids if i in found]


async def _read_lines(session: AsyncSession, held: list[_Holding]) -> None:
    """The lines these held purchase orders have and the transaction has not read."""
    if whole := [h for h in held if h.lines is None]:
        lines, dispatches = await _details(session, [h.order.id for h in whole])
        for h in whole:
            h.lines = {line.product_id: line for line in lines[h.order.id]}
            h.dispatches = dispatches[h.order.id]
    if partly := [h for h in held if h.unread]:
        wanted = or_(
            *(
                and_(
                    PurchaseOrderLine.purchase_order_id == h.order.id,
                    PurchaseOrderLine.product_id.in_(sorted(h.unread)),
                )
                for h in partly
            )
        )
        by_po = {h.order.id: h for h in partly}
        read = select(PurchaseOrderLine).where(wanted).execution_options(populate_existing=True)
        for line in await session.scalars(read):
            cast(dict[int, PurchaseOrderLine], by_po[line.purchase_order_id].lines)[
                line.product_id
            ] = line
        for h in partly:
            h.unread = set()
