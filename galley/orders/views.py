"""Reading orders: single, lists and history, shaped as the API shows them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from galley.http.paging import AnySelect, fetch_page
from galley.inventory.service import LOCATIONS
from galley.money import Money
from galley.orders.errors import OrderNotFound
from galley.orders.models import Order, OrderEvent, OrderLine
from galley.orders.rules import FULFILMENT_QUEUE, line_total
from galley.orders.schemas import Delivery, LineOut, OrderEventOut, OrderOut
from galley.privacy.keys import DataKeys

DELIVERY = "orders.delivery"
# What events and the live stream leave out of an order: a consumer that needs the
# delivery details reads the order with its own credentials.
PERSONAL = frozenset({"delivery"})


def order_view(order: Order, location: str, lines: Sequence[OrderLine], keys: DataKeys) -> OrderOut:
    currency = order.currency
    return OrderOut(
        id=order.id,
        number=order.number,
        status=order.status,
        location=location,
        lines=[
            LineOut(
                sku=line.sku,
                quantity=line.quantity,
                allocated=line.allocated,
                backordered=line.backordered,
                unit_price=Money(amount=line.unit_price, currency=currency),
                line_total=Money(
                    amount=line_total(line.unit_price, line.quantity), currency=currency
                ),
            )
            for line in sorted(lines, key=lambda line: line.position)
        ],
        total=Money(amount=order.total_amount, currency=currency),
        customer_ref=order.customer_ref,
        note=order.note,
        delivery=None
        if order.delivery is None
        else Delivery.model_validate_json(keys.unseal(order.delivery, DELIVERY)),
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


async def load_order(
    session: AsyncSession,
    order_id: str,
    *,
    for_update: bool = False,
    customer_id: int | None = None,
) -> tuple[Order, str, list[OrderLine]]:
    """The order, its location code and lines. With `customer_id`, only that customer's
    order is found: anyone else's answers 404, as if it did not exist."""
    stmt = _of_customer(
        select(Order, LOCATIONS.c.code, OrderLine)
        .join(LOCATIONS, LOCATIONS.c.id == Order.location_id)
        .outerjoin(OrderLine, OrderLine.order_number == Order.number)
        .where(Order.id == order_id),
        customer_id,
    )
    if for_update:
        stmt = stmt.with_for_update(of=Order)
    found = (await session.execute(stmt)).all()  # one statement: a row per line
    if not found:
        raise OrderNotFound(order_id)
    order, code, _ = found[0]
    return order, code, [line for _, _, line in found if line is not None]


@dataclass(frozen=True)
class Payable:
    """An order as taking its payment needs it."""

    number: int
    id: str
    status: str
    total: int
    currency: str


async def payable(
    session: AsyncSession, order_id: str, *, lock: bool, customer_id: int | None = None
) -> Payable:
    """The order; with `lock`, its row locked, so that two payments of it never race.
    With `customer_id`, only that customer's (anyone else's answers 404)."""
    stmt = _of_customer(
        select(Order.number, Order.id, Order.status, Order.total_amount, Order.currency).where(
            Order.id == order_id
        ),
        customer_id,
    )
    found = (await session.execute(stmt.with_for_update() if lock else stmt)).first()
    if found is None:
        raise OrderNotFound(order_id)
    return Payable(*found)


async def stock_of(
    session: AsyncSession, order_id: str, *, customer_id: int | None = None
) -> tuple[int, list[int]]:
    """The location and products whose stock rows a change of the order locks before the
    order itself: only what never changes, read unlocked (nothing, if there is no order)."""
    found = (
        await session.execute(
            _of_customer(
                select(Order.location_id, OrderLine.product_id)
                .join(OrderLine, OrderLine.order_number == Order.number)
                .where(Order.id == order_id),
                customer_id,
            )
        )
    ).all()
    return (found[0].location_id if found else 0), [row.product_id for row in found]


def _of_customer(stmt: AnySelect, customer_id: int | None) -> AnySelect:
    return stmt if customer_id is None else stmt.where(Order.customer_id == customer_id)


async def get_order(
    session: AsyncSession, order_id: str, keys: DataKeys, *, customer_id: int | None = None
) -> OrderOut:
    return order_view(*await load_order(session, order_id, customer_id=customer_id), keys)


async def list_orders(
    session: AsyncSession,
    keys: DataKeys,
    *,
    status: str | None,
    location: str | None,
    customer_ref: str | None,
    cursor: str | None,
    limit: int,
    customer_id: int | None = None,
) -> tuple[list[OrderOut], str | None]:
    stmt: Select[Order, str] = _of_customer(
        select(Order, LOCATIONS.c.code).join(LOCATIONS, LOCATIONS.c.id == Order.location_id),
        customer_id,
    )
    if status is not None:
        stmt = stmt.where(Order.status == status)
    if location is not None:
        stmt = stmt.where(LOCATIONS.c.code == location)
    if customer_ref is not None:
        stmt = stmt.where(Order.customer_ref == customer_ref)
    rows, next_cursor = await fetch_page(session, stmt, Order.number, cursor, limit)
    return await shaped(session, rows, keys), next_cursor


async def fulfilment_queue(session: AsyncSession, location: str, keys: DataKeys) -> list[OrderOut]:
    """The orders the kitchen at `location` has to prepare or hand over, oldest first."""
    stmt = (
        select(Order, LOCATIONS.c.code)
        .join(LOCATIONS, LOCATIONS.c.id == Order.location_id)
        .where(LOCATIONS.c.code == location, Order.status.in_(FULFILMENT_QUEUE))
        .order_by(Order.number)
    )
    return await shaped(session, (await session.execute(stmt)).all(), keys)


async def shaped(session: AsyncSession, rows: Sequence[Any], keys: DataKeys) -> list[OrderOut]:
    """Orders with their location codes, shaped with their lines (one query for all)."""
    numbers = [order.number for order, _ in rows]
    lines_of: dict[int, list[OrderLine]] = defaultdict(list)
    if numbers:
        for line in (
            await session.execute(select(OrderLine).where(OrderLine.order_number.in_(numbers)))
        ).scalars():
            lines_of[line.order_number].append(line)
    return [order_view(order, code, lines_of[order.number], keys) for order, code in rows]


async def list_events(
    session: AsyncSession,
    order_id: str,
    cursor: str | None,
    limit: int,
    *,
    customer_id: int | None = None,
) -> tuple[list[OrderEventOut], str | None]:
    number = (
        await session.execute(
            _of_customer(select(Order.number).where(Order.id == order_id), customer_id)
        )
    ).scalar()
    if number is None:
        raise OrderNotFound(order_id)
    stmt = select(OrderEvent).where(OrderEvent.order_number == number)
    rows, next_cursor = await fetch_page(session, stmt, OrderEvent.id, cursor, limit)
    return [
        OrderEventOut(
            id=str(event.id),
            type=event.type,
            from_status=event.from_status,
            to_status=event.to_status,
            cause=event.cause,
            actor=event.actor,
            data=event.data,
            created_at=event.created_at,
        )
        for (event,) in rows
    ], next_cursor
