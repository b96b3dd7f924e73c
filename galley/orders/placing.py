"""Placing an order: validate every line, allocate stock, record the order and its history.

The number of statements does not grow with the number of lines; the stock rows
are locked by `inventory.service.reserve`, the only place that locks them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from galley.catalog.service import Sellable, sellables
from galley.db import utcnow
from galley.errors import FieldError, InvalidRequest
from galley.inventory import service as inventory
from galley.orders import rules
from galley.orders.models import Order, OrderEvent, OrderLine
from galley.orders.schemas import OrderCreate, OrderOut
from galley.orders.views import order_view


async def place_order(
    session: AsyncSession, request: OrderCreate, *, currency: str, actor: str
) -> OrderOut:
    products = await _sellable_lines(session, request, currency)
    location_id = await inventory.location_id_for(session, request.location, field="location")
    wanted = {products[line.sku].id: line.quantity for line in request.lines}
    allocations = await inventory.reserve(session, location_id, wanted)

    now = utcnow()
    status = rules.status_after_placing([a.backordered for a in allocations.values()])
    order = Order(
        id=str(uuid.uuid4()),
        location_id=location_id,
        status=status,
        customer_ref=request.customer_ref,
        note=request.note,
        total_amount=sum(
            rules.line_total(products[line.sku].price, line.quantity) for line in request.lines
        ),
        currency=currency,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    lines = [
        OrderLine(
            order_number=order.number,
            position=position,
            product_id=products[line.sku].id,
            sku=line.sku,
            quantity=line.quantity,
            allocated=allocations[products[line.sku].id].allocated,
            backordered=allocations[products[line.sku].id].backordered,
            unit_price=products[line.sku].price,
        )
        for position, line in enumerate(request.lines)
    ]
    await session.execute(insert(OrderLine), [_columns(line) for line in lines])
    allocated = [
        {"sku": line.sku, "allocated": line.allocated, "backordered": line.backordered}
        for line in lines
    ]
    await session.execute(
        insert(OrderEvent),
        [
            {
                "order_number": order.number,
                "type": "placed",
                "from_status": None,
                "to_status": status,
                "cause": "order placed",
                "actor": actor,
                "data": None,
                "created_at": now,
            },
            {
                "order_number": order.number,
                "type": "allocated",
                "from_status": None,
                "to_status": None,
                "cause": "stock available at placement",
                "actor": actor,
                "data": {"lines": allocated},
                "created_at": now,
            },
        ],
    )
    return order_view(order, request.location, lines)


async def _sellable_lines(
    session: AsyncSession, request: OrderCreate, currency: str
) -> dict[str, Sellable]:
    """Every line's product, or a 422 naming every bad line."""
    skus = [line.sku for line in request.lines]
    products = await sellables(session, skus)
    duplicates = set(rules.duplicate_skus(skus))
    seen: set[str] = set()
    errors: list[FieldError] = []
    for index, sku in enumerate(skus):
        field = f"lines[{index}].sku"
        product = products.get(sku)
        if sku in duplicates and sku in seen:
            errors.append(FieldError(field=field, message=f"{sku} is on an earlier line"))
        elif product is None:
            errors.append(FieldError(field=field, message=f"no product with SKU {sku}"))
        elif not product.active:
            errors.append(FieldError(field=field, message=f"{sku} is not for sale"))
        elif product.currency != currency:
            errors.append(FieldError(field=field, message=f"{sku} is not priced in {currency}"))
        seen.add(sku)
    if errors:
        raise InvalidRequest(
            f"{len(errors)} of the order's lines cannot be ordered; nothing was placed.", errors
        )
    return products


def _columns(line: OrderLine) -> dict[str, object]:
    return {
        "order_number": line.order_number,
        "position": line.position,
        "product_id": line.product_id,
        "sku": line.sku,
        "quantity": line.quantity,
        "allocated": line.allocated,
        "backordered": line.backordered,
        "unit_price": line.unit_price,
    }
