"""Purchase orders: creating and editing drafts by hand, sending, cancelling."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from sqlalchemy import BigInteger, Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Update

from galley.catalog.service import PRODUCTS, SELLABLE_COLUMNS, Sellable, sellable_of, sellables
from galley.changes import Change, CoverChanged, PurchaseOrdersAnnounced
from galley.db import key_from, rows_of, update_row, utcnow
from galley.errors import FieldError, InvalidRequest
from galley.inventory import service as inventory
from galley.purchasing import history, rules, suppliers, views
from galley.purchasing.errors import (
    EmptyPurchaseOrder,
    IllegalPurchaseOrderTransition,
    PurchaseOrderNotFound,
)
from galley.purchasing.models import PurchaseOrder, PurchaseOrderLine
from galley.purchasing.replenishment import Purchase, add_to_drafts, send_drafts
from galley.purchasing.schemas import PurchaseLineRequest, PurchaseOrderCreate
from galley.purchasing.views import Loaded, load

_LINES = cast(Table, PurchaseOrderLine.__table__)


# Where a purchase order is and the products it names, and those of `skus`, as they stand.
_PLACED = (
    select(PurchaseOrder.location_id, *SELLABLE_COLUMNS)
    .select_from(PurchaseOrder)
    .outerjoin(
        PRODUCTS,
        or_(
            PRODUCTS.c.id.in_(
                select(PurchaseOrderLine.product_id).where(
                    PurchaseOrderLine.purchase_order_id == PurchaseOrder.id
                )
            ),
            PRODUCTS.c.sku.in_(bindparam("skus", expanding=True)),
        ),
    )
    .where(PurchaseOrder.id == bindparam("po"))
)


async def lock(
    session: AsyncSession, po_id: str, *, skus: Sequence[str] = ()
) -> tuple[Loaded, dict[str, Sellable]]:
    """The purchase order with the stock rows of its products and of `skus` and then its
    own row locked, in that order; the stock rows in one go, so in product order. Also
    those products, by SKU, as they were read to know which rows to lock."""
    placed = (await session.execute(_PLACED, {"po": key_from(po_id), "skus": list(skus)})).all()
    if not placed:
        raise PurchaseOrderNotFound(po_id)
    products = {row.sku: sellable_of(row[1:]) for row in placed if row.id is not None}
    ids = [product.id for product in products.values()]
    await inventory.lock_levels(session, placed[0].location_id, ids)
    return await load(session, po_id, for_update=True), products


async def add_by_hand(
    session: AsyncSession, request: PurchaseOrderCreate, window: dt.timedelta, *, actor: str
) -> tuple[tuple[int, bool], list[Change]]:
    """A manager's purchase: onto the supplier's draft for the location (created if none).

    Returns the purchase order's key and whether it was created.
    """
    supplier = await suppliers.get_supplier_for_body(session, request.supplier)
    location_id = await inventory.location_id_for(session, request.location, field="location")
    products = await _products(session, request.lines, supplier.currency, allow_zero=False)
    await inventory.lock_levels(session, location_id, [p for p, _ in products.values()])
    buys = [
        Purchase(product_id, line.sku, supplier.id, line.quantity)
        for line in request.lines
        for product_id, _ in [products[line.sku]]
    ]
    drafts, changes = await add_to_drafts(
        session, location_id, request.location, buys, window, actor=actor, cause="added by hand"
    )
    po_id = drafts[supplier.id]
    await _set_costs(session, po_id, request.lines, products)
    created = any(
        isinstance(change, PurchaseOrdersAnnounced) and po_id in change.purchase_order_ids
        for change in changes
    )
    return (po_id, created), changes


async def edit_draft(
    session: AsyncSession,
    po_id: str,
    lines: Sequence[PurchaseLineRequest],
    *,
    actor: str,
    precondition: Callable[[Loaded], None] = lambda _: None,
) -> tuple[int, list[Change]]:
    """Set each named SKU's quantity on a draft (0 takes it off), then let the rule run.
    Returns the draft's key.

    `precondition` (the caller's If-Match) is checked once the purchase order is locked,
    so two editors of the same version never both win.
    """
    found, named = await lock(session, po_id, skus=[line.sku for line in lines])
    products = _checked(lines, named, found.supplier_currency, allow_zero=True)
    location_id = found.order.location_id
    precondition(found)
    if found.order.status != "draft":
        raise IllegalPurchaseOrderTransition(found.order.status, "edit")  # type: ignore[arg-type]
    on_draft = {line.product_id: line for line in found.lines}
    changes, gone, new = [], [], []
    kept: dict[int, int] = {}
    for line in lines:
        product_id, _ = products[line.sku]
        current = on_draft.get(product_id)
        before = current.quantity_ordered if current else 0
        changes.append(inventory.LevelChange(product_id, incoming=line.quantity - before))
        if current is not None and line.quantity == 0:
            gone.append(current)
        elif current is not None:
            kept[product_id] = line.quantity
        elif line.quantity:
            new.append(
                {
                    "purchase_order_id": found.order.id,
                    "product_id": product_id,
                    "sku": line.sku,
                    "quantity_ordered": line.quantity,
                    "quantity_received": 0,
                }
            )
    if gone:
        await session.execute(delete(_LINES).where(_LINES.c.id.in_([g.id for g in gone])))
        views.lines_gone(session, found.order.id, [g.product_id for g in gone])
    await set_on_lines(session, found.order.id, "quantity_ordered", kept)
    if new:
        made = await session.scalars(insert(PurchaseOrderLine).returning(PurchaseOrderLine), new)
        views.lines_made(session, found.order.id, made)
    await inventory.change_levels(session, location_id, changes)
    await _set_costs(session, found.order.id, lines, products)
    history.record(
        session,
        [found.order.id],
        "edited",
        None,
        None,
        "edited by hand",
        actor,
        [{"lines": [{"sku": line.sku, "quantity": line.quantity} for line in lines]}],
    )
    await update_row(session, found.order, {"updated_at": utcnow()})
    read = {named[sku].id: named[sku] for sku in products}
    return found.order.id, [CoverChanged(location_id, tuple(read), actor, products=read)]


async def send(session: AsyncSession, po_id: str, *, actor: str) -> tuple[Loaded, list[Change]]:
    """`draft` → `sent` by hand, as the rule sends drafts (`replenishment.send_drafts`):
    the purchase order as it is left."""
    found = await load(session, po_id, for_update=True)
    _require(found, "send")
    if not any(line.quantity_ordered for line in found.lines):
        raise EmptyPurchaseOrder(po_id)
    return found, await send_drafts(session, [found.order.id], actor=actor, cause="sent by hand")


async def cancel(
    session: AsyncSession, po_id: str, *, actor: str, reason: str | None
) -> tuple[Loaded, list[Change]]:
    """Nothing more comes of it: incoming falls, and the rule buys the demand elsewhere.
    The purchase order as it is left."""
    found, named = await lock(session, po_id)
    target = _require(found, "cancel")
    outstanding = [
        (line.product_id, max(0, line.quantity_ordered - line.quantity_received))
        for line in found.lines
    ]
    await inventory.change_levels(
        session,
        found.order.location_id,
        [inventory.LevelChange(p, incoming=-n) for p, n in outstanding],
    )
    history.record(
        session,
        [found.order.id],
        "status_changed",
        found.order.status,
        target,
        reason or "cancelled",
        actor,
        None,
    )
    await update_row(session, found.order, {"status": target, "updated_at": utcnow()})
    read = {product.id: product for product in named.values()}
    outstanding_ids = tuple(p for p, _ in outstanding)
    return found, [CoverChanged(found.order.location_id, outstanding_ids, actor, products=read)]


def _require(found: Loaded, action: rules.POAction) -> rules.POStatus:
    current: rules.POStatus = found.order.status  # type: ignore[assignment]
    try:
        return rules.next_po_status(current, action)
    except rules.IllegalPOTransition:
        raise IllegalPurchaseOrderTransition(current, action) from None


async def _products(
    session: AsyncSession, lines: Sequence[PurchaseLineRequest], currency: str, *, allow_zero: bool
) -> dict[str, tuple[int, int | None]]:
    """Each line's product key and unit cost, or a 422 naming every bad line."""
    found = await sellables(session, [line.sku for line in lines])
    return _checked(lines, found, currency, allow_zero=allow_zero)


def _checked(
    lines: Sequence[PurchaseLineRequest],
    found: Mapping[str, Sellable],
    currency: str,
    *,
    allow_zero: bool,
) -> dict[str, tuple[int, int | None]]:
    """Each line's product key and unit cost, from the products `found` by SKU, or a 422
    naming every bad line."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.sku in seen:
            errors.append(FieldError(field=f"lines[{index}].sku", message="on an earlier line"))
        elif line.sku not in found:
            errors.append(FieldError(field=f"lines[{index}].sku", message="unknown SKU"))
        elif line.quantity == 0 and not allow_zero:
            errors.append(
                FieldError(field=f"lines[{index}].quantity", message="must be at least 1")
            )
        elif line.unit_cost is not None and line.unit_cost.currency != currency:
            errors.append(
                FieldError(
                    field=f"lines[{index}].unit_cost.currency", message=f"must be {currency}"
                )
            )
        seen.add(line.sku)
    if errors:
        raise InvalidRequest(f"{len(errors)} of the lines cannot be purchased.", errors)
    return {
        line.sku: (found[line.sku].id, line.unit_cost.amount if line.unit_cost else None)
        for line in lines
    }


async def _set_costs(
    session: AsyncSession,
    po_id: int,
    lines: Sequence[PurchaseLineRequest],
    products: dict[str, tuple[int, int | None]],
) -> None:
    costs = {
        product_id: cost
        for product_id, cost in (products[line.sku] for line in lines)
        if cost is not None
    }
    await set_on_lines(session, po_id, "unit_cost", costs)


async def set_on_lines(
    session: AsyncSession, po_id: int, column: str, by_product: Mapping[int, int]
) -> None:
    """Set one column of the purchase order's lines, by product, in one statement."""
    if by_product:
        await session.execute(
            lines_set(session, po_id, column, by_product).execution_options(
                synchronize_session=False
            )
        )
        views.lines_written(session, po_id, column, by_product)


def lines_set(
    session: AsyncSession, po_id: int, column: str, by_product: Mapping[int, int]
) -> Update:
    """The statement that sets one column of the purchase order's lines, by product."""
    given = rows_of(
        session,
        "given",
        [{"product": p, "value": v} for p, v in by_product.items()],
        product=BigInteger(),
        value=_LINES.c[column].type,
    )
    return (
        update(PurchaseOrderLine)
        .where(
            PurchaseOrderLine.purchase_order_id == po_id,
            PurchaseOrderLine.product_id == given.c.product,
        )
        .values({column: given.c.value})
        .add_cte(given)
    )
