"""Free stock goes to waiting orders, oldest first, before any new order can take it.

Every rise of free stock — a receipt, a positive adjustment, a cancelled order letting
go of what it held — is a `StockFreed`, which `galley.reactions` hands to
`fill_backorders` within the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import BigInteger, Integer, Row, Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galley.appends import write_last
from galley.changes import Announced, Change, StockFreed
from galley.config import Settings
from galley.db import rows_of, utcnow
from galley.inventory import service as inventory
from galley.orders import history, rules, views
from galley.orders.models import Order, OrderLine
from galley.privacy.keys import DataKeys

_LINES = cast(Table, OrderLine.__table__)

# Every line of the orders waiting for any of these products, oldest order first, with
# the orders locked: the lines to fill, and the rest of an order it completes, whose view
# is then shaped from these rows rather than read again.
_WAITING = (
    select(*_LINES.c)
    .join(Order, Order.number == _LINES.c.order_number)
    .where(
        Order.location_id == bindparam("location_id"),
        Order.status == "awaiting_stock",
        Order.number.in_(
            select(_LINES.c.order_number).where(
                _LINES.c.product_id.in_(bindparam("product_ids", expanding=True)),
                _LINES.c.backordered > 0,
            )
        ),
    )
    .order_by(_LINES.c.order_number, _LINES.c.position)
    .with_for_update(of=Order)
)
# The orders among `numbers` left with nothing backordered become `confirmed`, returned.
_CONFIRM = (
    update(Order)
    .where(
        Order.number.in_(
            select(OrderLine.order_number)
            .where(OrderLine.order_number.in_(bindparam("numbers", expanding=True)))
            .group_by(OrderLine.order_number)
            .having(func.sum(OrderLine.backordered) == 0)
        ),
        Order.status == "awaiting_stock",
    )
    .values(status="confirmed", updated_at=bindparam("now"))
    .returning(Order)
    .execution_options(synchronize_session=False)
)


async def fill_backorders(
    session: AsyncSession, freed: StockFreed, settings: Settings
) -> list[Change]:
    """Allocate the available stock of these products to backordered lines, oldest order
    first; orders left with nothing backordered become `confirmed`."""
    location_id, actor, cause = freed.location_id, freed.actor, freed.cause
    figures = await inventory.lock_levels(session, location_id, freed.product_ids)
    free = {p: lv.available for p, lv in figures.items() if lv.available > 0 and lv.backordered}
    if not free:
        return []
    waiting = (
        await session.execute(_WAITING, {"location_id": location_id, "product_ids": sorted(free)})
    ).all()
    by_product: dict[int, list[Any]] = defaultdict(list)
    for line in waiting:
        if line.product_id in free and line.backordered:
            by_product[line.product_id].append(line)
    fills: list[tuple[Any, int]] = []
    for product_id, lines in by_product.items():
        given = rules.fill_oldest_first(free[product_id], [line.backordered for line in lines])
        fills += [(line, qty) for line, qty in zip(lines, given, strict=True) if qty]
    if not fills:
        return []
    filled = rows_of(
        session,
        "filled",
        [{"line": line.id, "qty": qty} for line, qty in fills],
        line=BigInteger(),
        qty=Integer(),
    )
    # With the stock it reserves, which carries it (`galley.appends`): before the orders
    # it completes are confirmed.
    write_last(
        session,
        update(_LINES)
        .where(_LINES.c.id == filled.c.line)
        .values(
            allocated=_LINES.c.allocated + filled.c.qty,
            backordered=_LINES.c.backordered - filled.c.qty,
        )
        .add_cte(filled),
    )
    totals: dict[int, int] = defaultdict(int)
    for line, qty in fills:
        totals[line.product_id] += qty
    fallen = await inventory.change_levels(
        session,
        location_id,
        [inventory.LevelChange(p, reserved=n, backordered=-n) for p, n in totals.items()],
        before=figures,
    )
    location = next(iter(figures.values())).location
    keys = settings.sealing_keys
    return fallen + await _confirm_complete_orders(
        session, waiting, fills, location, keys, actor=actor, cause=cause
    )


async def _confirm_complete_orders(
    session: AsyncSession,
    waiting: Sequence[Row[Any]],
    fills: list[tuple[Any, int]],
    location: str,
    keys: DataKeys,
    *,
    actor: str,
    cause: str,
) -> list[Change]:
    now = utcnow()
    per_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line, qty in fills:
        per_order[line.order_number].append({"sku": line.sku, "allocated": qty})
    numbers = sorted(per_order)
    found = await session.execute(_CONFIRM, {"numbers": numbers, "now": now})
    orders = sorted(found.scalars(), key=lambda order: order.number)
    complete = [order.number for order in orders]
    changes: list[Change] = []
    if orders:
        given = {line.id: qty for line, qty in fills}
        lines_of: dict[int, list[OrderLine]] = defaultdict(list)
        for line in waiting:
            qty = given.get(line.id, 0)
            filled = line._asdict() | {
                "allocated": line.allocated + qty,
                "backordered": line.backordered - qty,
            }
            lines_of[line.order_number].append(OrderLine(**filled))
        confirmed = [
            views.order_view(order, location, lines_of[order.number], keys) for order in orders
        ]
        changes.append(Announced("order.status_changed", confirmed, views.PERSONAL))
    shared = {"actor": actor, "created_at": now, "cause": cause}
    entries = [
        shared
        | {
            "order_number": n,
            "type": "allocated",
            "from_status": None,
            "to_status": None,
            "data": {"lines": per_order[n]},
        }
        for n in numbers
    ] + [
        shared
        | {
            "order_number": n,
            "type": "status_changed",
            "from_status": "awaiting_stock",
            "to_status": "confirmed",
            "data": None,
        }
        for n in complete
    ]
    history.record(session, entries)
    return changes
