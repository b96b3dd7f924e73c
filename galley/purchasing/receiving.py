"""Receiving goods against a purchase order."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from galley.appends import write_last
from galley.changes import Change, StockFreed
from galley.db import utcnow
from galley.errors import FieldError, InvalidRequest
from galley.inventory import service as inventory
from galley.purchasing import history, rules, views
from galley.purchasing.errors import IllegalPurchaseOrderTransition, OverReceipt
from galley.purchasing.models import PurchaseOrder
from galley.purchasing.purchase_orders import lines_set, lock
from galley.purchasing.schemas import ReceiptCreate
from galley.purchasing.views import Loaded


async def receive(
    session: AsyncSession, po_id: str, receipt: ReceiptCreate, *, actor: str
) -> tuple[Loaded, list[Change]]:
    """Raise on_hand by what arrived (ledger `received`), lower incoming by what was
    outstanding, and move the purchase order on. Returns the order as the receipt left it
    (what follows from it changes other orders and drafts, not this one); what arrived is
    free stock, which goes to waiting orders (`StockFreed`).

    The stock rows of the SKUs received are locked before the purchase order, whatever
    lines the order gains meanwhile."""
    found, products = await lock(session, po_id, skus=[line.sku for line in receipt.lines])
    current: rules.POStatus = found.order.status  # type: ignore[assignment]
    if current not in rules.RECEIVABLE:
        raise IllegalPurchaseOrderTransition(current, "receive against")
    on_order = {line.sku: line for line in found.lines}
    _check_lines(receipt, on_order)
    over = [
        {
            "sku": line.sku,
            "ordered": on_order[line.sku].quantity_ordered,
            "received": on_order[line.sku].quantity_received,
            "arriving": line.quantity,
        }
        for line in receipt.lines
        if on_order[line.sku].quantity_received + line.quantity
        > on_order[line.sku].quantity_ordered
    ]
    if over and not receipt.allow_over_receipt:
        raise OverReceipt(over)

    changes = []
    received = {line.id: line.quantity_received for line in found.lines}
    for arrival in receipt.lines:
        line = on_order[arrival.sku]
        outstanding = max(0, line.quantity_ordered - line.quantity_received)
        received[line.id] += arrival.quantity
        changes.append(
            inventory.LevelChange(
                line.product_id,
                on_hand=arrival.quantity,
                incoming=-min(outstanding, arrival.quantity),
            )
        )
    location_id = found.order.location_id
    # What this writes nobody reads back here: it goes with the stock it moves, or later
    # (`galley.appends`); the answer is the purchase order as this leaves it.
    arrived = {on_order[a.sku].product_id: received[on_order[a.sku].id] for a in receipt.lines}
    write_last(session, lines_set(session, found.order.id, "quantity_received", arrived))
    views.lines_written(session, found.order.id, "quantity_received", arrived)
    await inventory.change_levels(session, location_id, changes)
    inventory.record_ledger(
        session,
        inventory.ledger_entries(
            location_id,
            [(c.product_id, c.on_hand) for c in changes],
            reason="received",
            reference=f"purchase_order:{found.order.id}",
            actor=actor,
        ),
    )
    target = rules.status_after_receipt(
        [(line.quantity_ordered, received[line.id]) for line in found.lines]
    )
    history.record(
        session,
        [found.order.id],
        "received",
        current,
        target,
        "goods received",
        actor,
        [{"lines": [{"sku": a.sku, "quantity": a.quantity} for a in receipt.lines]}],
    )
    moved = {"status": target, "updated_at": utcnow()}
    write_last(
        session, update(PurchaseOrder).where(PurchaseOrder.id == found.order.id).values(moved)
    )
    views.written(session, found.order.id, moved)
    arriving = {products[a.sku].id: products[a.sku] for a in receipt.lines}
    return found, [
        views.announcement("purchase_order.received", [found]),
        StockFreed(
            location_id,
            tuple(c.product_id for c in changes),
            actor,
            f"purchase order {found.order.id} received",
            arriving,
        ),
    ]


def _check_lines(receipt: ReceiptCreate, on_order: Mapping[str, object]) -> None:
    errors = []
    seen: set[str] = set()
    for index, line in enumerate(receipt.lines):
        if line.sku in seen:
            errors.append(FieldError(field=f"lines[{index}].sku", message="on an earlier line"))
        elif line.sku not in on_order:
            errors.append(
                FieldError(field=f"lines[{index}].sku", message="not on this purchase order")
            )
        seen.add(line.sku)
    if errors:
        raise InvalidRequest(f"{len(errors)} of the receipt's lines do not fit the order.", errors)
