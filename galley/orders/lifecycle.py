"""Moving an order through preparation: start, ready, complete, cancel."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from galley.changes import Announced, Change, StockFreed
from galley.db import update_row, utcnow
from galley.events.service import EventType
from galley.inventory import service as inventory
from galley.orders import history, rules
from galley.orders.errors import IllegalOrderTransition
from galley.orders.models import OrderLine
from galley.orders.schemas import OrderOut
from galley.orders.views import PERSONAL, load_order, order_view, stock_of
from galley.privacy.keys import DataKeys

_CAUSES: dict[rules.Action, str] = {
    "start": "preparation started",
    "ready": "ready for pick-up",
    "complete": "handed over",
    "cancel": "cancelled",
}
_MOVES_STOCK: tuple[rules.Action, ...] = ("complete", "cancel")
# Every transition is one event; the two that end an order have their own type.
_EVENTS: dict[rules.Action, EventType] = {
    "complete": "order.completed",
    "cancel": "order.cancelled",
}


async def transition(
    session: AsyncSession,
    order_id: str,
    action: rules.Action,
    keys: DataKeys,
    *,
    actor: str,
    reason: str | None = None,
    customer_id: int | None = None,
) -> tuple[OrderOut, list[Change]]:
    """Apply `action` to the order, holding its row lock so two transitions never race.

    An action that moves stock locks the stock rows first, then the order (the order
    every transaction takes its locks in). Only what never changes (the location, the
    products) is taken from the read before the locks; the state and the lines' figures
    are read again under both locks, and only those are acted on. What a cancelled order
    held is free again (`StockFreed`).
    """
    if action in _MOVES_STOCK:
        location_id, products = await stock_of(session, order_id, customer_id=customer_id)
        if products:
            await inventory.lock_levels(session, location_id, products)
    order, location, lines = await load_order(
        session, order_id, for_update=True, customer_id=customer_id
    )
    current: rules.Status = order.status  # type: ignore[assignment]
    try:
        target = rules.next_status(current, action, by_customer=customer_id is not None)
    except rules.IllegalTransition:
        raise IllegalOrderTransition(current, action) from None

    if action == "complete":
        await _consume(session, order.location_id, order.id, lines, actor)
    elif action == "cancel":
        await _release(session, order.location_id, lines)

    now = utcnow()
    order = await update_row(session, order, {"status": target, "updated_at": now})
    history.record(
        session,
        [
            {
                "order_number": order.number,
                "type": "status_changed",
                "from_status": current,
                "to_status": target,
                "cause": reason or _CAUSES[action],
                "actor": actor,
                "data": _stock_effect(action, lines),
                "created_at": now,
            }
        ],
    )
    shown = order_view(order, location, lines, keys)
    changes: list[Change] = [
        Announced(_EVENTS.get(action, "order.status_changed"), [shown], PERSONAL)
    ]
    released = tuple(ln.product_id for ln in lines if ln.allocated)
    if action == "cancel" and released:
        changes.append(
            StockFreed(order.location_id, released, actor, f"order {order.id} cancelled")
        )
    return shown, changes


async def _consume(
    session: AsyncSession, location_id: int, order_id: str, lines: list[OrderLine], actor: str
) -> None:
    """The order's reserved stock leaves the location, with ledger entries."""
    taken = [(ln.product_id, ln.allocated) for ln in lines if ln.allocated]
    await inventory.change_levels(
        session,
        location_id,
        [inventory.LevelChange(p, on_hand=-n, reserved=-n) for p, n in taken],
    )
    inventory.record_ledger(
        session,
        inventory.ledger_entries(
            location_id,
            [(p, -n) for p, n in taken],
            reason="consumed",
            reference=f"order:{order_id}",
            actor=actor,
        ),
    )


async def _release(session: AsyncSession, location_id: int, lines: list[OrderLine]) -> None:
    """What the order held becomes free and what it waited for is no longer wanted."""
    await inventory.change_levels(
        session,
        location_id,
        [
            inventory.LevelChange(
                ln.product_id, reserved=-ln.allocated, backordered=-ln.backordered
            )
            for ln in lines
        ],
    )


def _stock_effect(action: rules.Action, lines: list[OrderLine]) -> dict[str, object] | None:
    if action == "complete":
        return {"consumed": [{"sku": ln.sku, "quantity": ln.allocated} for ln in lines]}
    if action == "cancel":
        return {
            "released": [{"sku": ln.sku, "quantity": ln.allocated} for ln in lines],
            "no_longer_backordered": [{"sku": ln.sku, "quantity": ln.backordered} for ln in lines],
        }
    return None
