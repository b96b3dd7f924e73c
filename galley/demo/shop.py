"""The shop floor: the opening stock count, and customers' orders moved along."""

from __future__ import annotations

import random

from sqlalchemy.ext.asyncio import AsyncSession

from galley.config import Settings
from galley.demo.catalogue import KITCHEN, SHOP
from galley.inventory import service as inventory
from galley.orders.errors import InsufficientStock
from galley.orders.rules import Action, Status
from galley.orders.schemas import LineRequest, OrderCreate
from galley.orders.service import place_order, transition
from galley.reactions import settled

ACTOR = "demo"

# The status a demo order is taken to once it is confirmed, the actions that take it there,
# and how often: most orders in a shop's history are done.
_PATHS: dict[Status, tuple[Action, ...]] = {
    "confirmed": (),
    "preparing": ("start",),
    "ready": ("start", "ready"),
    "completed": ("start", "ready", "complete"),
    "cancelled": ("cancel",),
}
_WEIGHTS = (3, 2, 2, 6, 1)
_CANCEL_REASONS = ("customer changed their mind", "not collected", "ordered twice by mistake")
_NOTES = ("No nuts, please.", "Pick-up at 12:30.", "Catering for twelve.", "Gift wrap, please.")


async def stock_up(
    session: AsyncSession, settings: Settings, skus: list[str], rng: random.Random
) -> None:
    """Count stock in at each location; about one product in eight is sold out there.

    As after any adjustment, the rule then runs: what sits below its reorder point is bought.
    """
    for sku in skus:
        for location, most in ((KITCHEN, 120), (SHOP, 24)):
            if rng.random() < 0.2:
                continue
            received = rng.randint(1, most)
            await _adjust(session, settings, sku, location, received, "received")
            if received > 5 and rng.random() < 0.1:
                lost = -rng.randint(1, 3)
                reason = rng.choice(("damaged", "count"))
                await _adjust(session, settings, sku, location, lost, reason)


async def _adjust(
    session: AsyncSession, settings: Settings, sku: str, location: str, delta: int, reason: str
) -> None:
    adjusted = inventory.adjust_stock(
        session, sku=sku, location=location, delta=delta, reason=reason, actor=ACTOR
    )
    await settled(session, adjusted, settings)


async def serve(
    session: AsyncSession,
    settings: Settings,
    rng: random.Random,
    skus: list[str],
    backorderable: list[str],
) -> None:
    """Place one order and move it along; `backorderable` are the SKUs that may be ordered
    beyond stock."""
    picked = rng.sample(skus, min(len(skus), rng.choice((1, 1, 1, 2, 2, 3, 4))))
    request = OrderCreate(
        location=rng.choice((SHOP, SHOP, KITCHEN)),
        lines=[LineRequest(sku=sku, quantity=rng.choice((1, 1, 1, 2, 2, 3, 6))) for sku in picked],
        customer_ref=rng.choice(
            (None, f"C-{rng.randint(1000, 9999)}", f"table-{rng.randint(1, 24)}")
        ),
        note=rng.choice((None, None, None, *_NOTES)),
    )
    keys, currency = settings.sealing_keys, settings.currency
    try:
        # A refused order writes nothing: the savepoint takes back the stock it reserved.
        async with session.begin_nested():
            order = await settled(
                session,
                place_order(session, request, keys, currency=currency, actor=ACTOR),
                settings,
            )
    except InsufficientStock as refused:
        second = _what_is_left(request, refused, backorderable, rng)
        if second is None:
            return
        order = await settled(
            session, place_order(session, second, keys, currency=currency, actor=ACTOR), settings
        )
    if order.status == "awaiting_stock":
        path: tuple[Action, ...] = ("cancel",) if rng.random() < 0.1 else ()
    else:
        path = rng.choices(list(_PATHS.values()), weights=_WEIGHTS)[0]
    for action in path:
        reason = rng.choice(_CANCEL_REASONS) if action == "cancel" else None
        order = await settled(
            session,
            transition(session, order.id, action, keys, actor=ACTOR, reason=reason),
            settings,
        )


def _what_is_left(
    request: OrderCreate, refused: InsufficientStock, backorderable: list[str], rng: random.Random
) -> OrderCreate | None:
    """The order again once the customer hears what is short and may not wait: they take
    what is left of it, or else one thing that may wait; None if there is no such thing."""
    left = {str(line["sku"]): int(line["available"]) for line in refused.extra["short"]}
    lines = [
        line.model_copy(update={"quantity": left.get(line.sku, line.quantity)})
        for line in request.lines
        if left.get(line.sku, line.quantity) > 0
    ]
    if not lines and not backorderable:
        return None
    return request.model_copy(
        update={"lines": lines or [LineRequest(sku=rng.choice(backorderable), quantity=1)]}
    )
