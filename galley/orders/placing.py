"""Placing an order: validate every line, allocate stock, record the order and its history.

The number of statements does not grow with the number of lines: this is the hottest
path. Its stock is taken last, once the order is written and announced (`OrderPlaced`
in `galley.reactions`; `inventory.levels`, the only place that locks stock rows, says
why).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import BigInteger, Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from galley import appends
from galley.catalog.service import SELLABLE_COLUMNS, Sellable, sellable_of
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
from galley.privacy.keys import DataKeys

_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)


class _next_number(FunctionElement[int]):
    """The number of the order placed next, drawn by the read that opens placing it."""

    type = BigInteger()
    inherit_cache = True


@compiles(_next_number, "postgresql")
def _drawn_from_the_sequence(element: _next_number, compiler: SQLCompiler, **kw: Any) -> str:
    # A scalar subquery runs once for the statement, not once per row.
    return "(SELECT nextval(pg_get_serial_sequence('orders', 'number')))"


@compiles(_next_number)
def _after_the_last(element: _next_number, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite: one writer at a time, from BEGIN IMMEDIATE on (`galley.db`).
    return "(SELECT coalesce(max(number), 0) + 1 FROM orders)"


# What placing an order reads, in one statement: each line's product, its stock at the
# order's location as it stands, and the new order's number.
_READ = inventory.by_sku_at(*SELLABLE_COLUMNS, _next_number().label("order_number"))


async def place_order(
    session: AsyncSession,
    request: OrderCreate,
    keys: DataKeys,
    *,
    currency: str,
    actor: str,
    customer_id: int | None = None,
) -> tuple[OrderOut, list[Change]]:
    """Place the order; `customer_id` is the customer placing it (from their token).

    Its rows are handed to `galley.appends`: they go with the statement that takes its
    stock, and nothing reads them back before."""
    stocked = await inventory.stocked(
        session, _READ, request.location, [line.sku for line in request.lines]
    )
    products = _sellable_lines(request, stocked, currency)
    wanted = {products[line.sku].id: line.quantity for line in request.lines}
    plan = await inventory.plan_reservation(session, stocked, request.location, wanted)
    allocations = plan.allocations
    _refuse_backorders_not_allowed(request, products, allocations)

    now = utcnow()
    # Written as these rows (`galley.appends`); the entities are only what the answer and
    # the history are shaped from.
    order_row = {
        "number": next(iter(stocked.rows.values())).order_number,
        "id": str(uuid.uuid4()),
        "location_id": plan.location_id,
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
    line_rows = [
        {
            "order_number": order_row["number"],
            "position": position,
            "product_id": products[line.sku].id,
            "sku": line.sku,
            "quantity": line.quantity,
            "allocated": allocations[products[line.sku].id].allocated,
            "backordered": allocations[products[line.sku].id].backordered,
            "unit_price": products[line.sku].price,
        }
        for position, line in enumerate(request.lines)
    ]
    order, lines = Order(**order_row), [OrderLine(**row) for row in line_rows]
    appends.append(session, _ORDERS, [order_row])
    appends.append(session, _LINES, line_rows)
    history.record(session, _placement_events(order, lines, actor))
    placed = order_view(order, request.location, lines, keys)
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


def _sellable_lines(
    request: OrderCreate, stocked: inventory.Stocked, currency: str
) -> dict[str, Sellable]:
    """Every line's product, or a 422 naming every bad line."""
    skus = [line.sku for line in request.lines]
    products = {sku: sellable_of(row) for sku, row in stocked.rows.items()}
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
