"""Moving an order through preparation: start, ready, complete, cancel."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from galley.db import utcnow
from galley.inventory import service as inventory
from galley.orders import rules
from galley.orders.errors import IllegalOrderTransition
from galley.orders.models import OrderEvent
from galley.orders.schemas import OrderOut
from galley.orders.views import load_order, order_view

_CAUSES: dict[rules.Action, str] = {
    "start": "preparation started",
    "ready": "ready for pick-up",
    "complete": "handed over",
    "cancel": "cancelled",
}


async def transition(
    session: AsyncSession,
    order_id: str,
    action: rules.Action,
    *,
    actor: str,
    reason: str | None = None,
) -> OrderOut:
    """Apply `action` to the order, holding its row lock so two transitions never race."""
    order, location, lines = await load_order(session, order_id, for_update=True)
    current: rules.Status = order.status  # type: ignore[assignment]
    try:
        target = rules.next_status(current, action)
    except rules.IllegalTransition:
        raise IllegalOrderTransition(current, action) from None

    held = [
        inventory.LineStock(line.product_id, line.allocated, line.backordered) for line in lines
    ]
    if action == "complete":
        await inventory.consume(
            session, order.location_id, held, reference=f"order:{order.id}", actor=actor
        )
    elif action == "cancel":
        await inventory.release(session, order.location_id, held)

    now = utcnow()
    order.status = target
    order.updated_at = now
    session.add(
        OrderEvent(
            order_number=order.number,
            type="status_changed",
            from_status=current,
            to_status=target,
            cause=reason or _CAUSES[action],
            actor=actor,
            data=_stock_effect(action, lines),
            created_at=now,
        )
    )
    await session.flush()
    return order_view(order, location, lines)


def _stock_effect(action: rules.Action, lines: list) -> dict[str, object] | None:  # type: ignore[type-arg]
    if action == "complete":
        return {"consumed": [{"sku": ln.sku, "quantity": ln.allocated} for ln in lines]}
    if action == "cancel":
        return {
            "released": [{"sku": ln.sku, "quantity": ln.allocated} for ln in lines],
            "no_longer_backordered": [{"sku": ln.sku, "quantity": ln.backordered} for ln in lines],
        }
    return None
