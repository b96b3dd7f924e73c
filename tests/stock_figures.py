"""The stock figures checked against what they summarize, straight from the database.

Every stock row must equal the open orders' and open purchase orders' lines: `reserved`
is what open orders hold, `backordered` what they wait for, `incoming` what open purchase
orders still bring, and `on_hand` the sum of the ledger.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Written out again, independently of the code under test.
OPEN_ORDERS = "('awaiting_stock', 'confirmed', 'preparing', 'ready')"
OPEN_POS = "('draft', 'sent', 'partially_received')"

LEVELS = text(
    f"""
    SELECT p.sku, s.on_hand, s.reserved, s.backordered, s.incoming,
      (SELECT COALESCE(SUM(delta), 0) FROM stock_ledger l
        WHERE l.product_id = s.product_id AND l.location_id = s.location_id) AS ledger,
      (SELECT COALESCE(SUM(ol.allocated), 0) FROM order_lines ol JOIN orders o
        ON o.number = ol.order_number WHERE ol.product_id = s.product_id
        AND o.location_id = s.location_id AND o.status IN {OPEN_ORDERS}) AS held,
      (SELECT COALESCE(SUM(ol.backordered), 0) FROM order_lines ol JOIN orders o
        ON o.number = ol.order_number WHERE ol.product_id = s.product_id
        AND o.location_id = s.location_id AND o.status IN {OPEN_ORDERS}) AS waiting,
      (SELECT COALESCE(SUM(CASE WHEN pl.quantity_ordered > pl.quantity_received
          THEN pl.quantity_ordered - pl.quantity_received ELSE 0 END), 0)
        FROM purchase_order_lines pl JOIN purchase_orders po ON po.id = pl.purchase_order_id
        WHERE pl.product_id = s.product_id AND po.location_id = s.location_id
        AND po.status IN {OPEN_POS}) AS on_its_way,
      (SELECT COALESCE(SUM(pl.quantity_ordered), 0) FROM purchase_order_lines pl
        JOIN purchase_orders po ON po.id = pl.purchase_order_id
        WHERE pl.product_id = s.product_id AND po.location_id = s.location_id) AS ever_ordered
    FROM stock_levels s JOIN products p ON p.id = s.product_id
    ORDER BY p.sku
    """
)


async def rows(engine: AsyncEngine, statement: Any = LEVELS) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        found = (await connection.execute(statement)).mappings()
        # PostgreSQL sums 64-bit integers as numeric: back to int.
        return [
            {k: int(v) if isinstance(v, Decimal) else v for k, v in row.items()} for row in found
        ]


def drift(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stock rows whose figures disagree with what they summarize."""
    return [
        row
        for row in levels
        if not (
            0 <= row["reserved"] <= row["on_hand"]
            and row["on_hand"] == row["ledger"]
            and row["reserved"] == row["held"]
            and row["backordered"] == row["waiting"]
            and row["incoming"] == row["on_its_way"]
        )
    ]
