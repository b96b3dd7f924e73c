"""Placing an order: validate every line, allocate stock, record the order and its history.

The number of statements does not grow with the number of lines: this is the hottest
path. Its stock is taken last, once the order is written and announced (`OrderPlaced`
in `galley.reactions`; `inventory.levels`, the only place that locks stock rows, says
why).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from galley.catalog.service import Sellable, sellables
from galley.changes import Change, OrderPlaced
from galley.db import utcnow
from galley.errors import FieldError, InvalidRequest
from galley.inventory import service as inventory
from galley.inventory.rules import Allocation
from galley.orders import history, rules
from galley.orders.errors import InsufficientStock
from galley.orders.models import Order, OrderLine
from galley.orders.schemas import OrderCreate, OrderOut
from galley.orders.views import DELIVERY, order_view
from galley.privacy.keys import keys_of

# The rows as inserted, as every read of an order has them (`views.order_view`).
_INSERT_ORDER = insert(Order).returning(Order)
_INSERT_LINES = insert(OrderLine).returning(OrderLine)


async def place_order(
    session: AsyncSession,
    request: OrderCreate,
    *,
    currency: str,
    actor: str,
    customer_id: int | None = None,
) -> tuple[OrderOut, list[Change]]:
    """Place the order; `customer_id` is the customer placing it (from their token)."""
    products = await _sellable_lines(session, request, currency)
    wanted = {products[line.sku].id: line.quantity for line in request.lines}
    plan = await inventory.plan_reservation(session, request.location, wanted)
    location_id, allocations = plan.location_id, plan.allocations
    _refuse_backorders_not_allowed(request, products, allocations)

    keys = keys_of(session)
    now = utcnow()
    order: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "location_id": location_id,
        "customer_id": customer_id,
        "status": rules.status_after_placing([a.backordered for a in allocations.values()]),
        "customer_ref": request.customer_ref,
        "note": request.note,
        "delivery": None
        if request.delivery is None
        else keys.seal(request.delivery.model_dump_json(), DELIVERY),
        "total_amount": sum(
            rules.line_total(products[line.sku].price, line.quantity) for line in request.lines
        ),
        "currency": currency,
        "created_at": now,
        "updated_at": now,
    }
    row = (await session.execute(_INSERT_ORDER, order)).scalar_one()
    lines = (
        (
            await session.execute(
                _INSERT_LINES,
                [
                    {
                        "order_number": row.number,
                        "position": position,
                        "product_id": products[line.sku].id,
                        "sku": line.sku,
                        "quantity": line.quantity,
                        "allocated": allocations[products[line.sku].id].allocated,
                        "backordered": allocations[products[line.sku].id].backordered,
                        "unit_price": products[line.sku].price,
                    }
                    for position, line in enumerate(request.lines)
                ],
            )
        )
        .scalars()
        .all()
    )
    history.record(session, _placement_events(row, lines, actor))
    placed = order_view(row, request.location, lines, keys)
    by_id = {product.id: product for product in products.values()}
    return placed, [OrderPlaced(placed, actor, plan, by_id)]


def _refuse_backorders_not_allowed(
    request: OrderCreate, products: dict[str, Sellable], allocations: dict[int, Allocation]
) -> None:
    """409 listing every short SKU that may not be backordered; the caller writes nothing."""
    short = []
    for line in request.lines:
        product = products[line.sku]
        allocation = allocations[product.id]
        if allocation.backordered and not product.allow_backorder:
            short.append(
                {"sku": line.sku, "requested": line.quantity, "available": allocation.allocated}
            )
    if short:
        raise InsufficientStock(short)


def _placement_events(order: Order, lines: Sequence[OrderLine], actor: str) -> list[dict[str, Any]]:
    shared = {"order_number": order.number, "actor": actor, "created_at": order.created_at}
    allocated = [
        {"sku": line.sku, "allocated": line.allocated, "backordered": line.backordered}
        for line in lines
    ]
    return [
        shared
        | {
            "type": "placed",
            "from_status": None,
            "to_status": order.status,
            "cause": "order placed",
            "data": None,
        },
        shared
        | {
            "type": "allocated",
            "from_status": None,
            "to_status": None,
            "cause": "stock available at placement",
            "data": {"lines": allocated},
        },
    ]


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
