"""What other areas know of a product: plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sellable:
    """What an order, and the replenishment rule, need to know of a product."""

    id: int
    sku: str
    price: int
    currency: str
    active: bool
    supplier_id: int | None
    allow_backorder: bool
    margin_pct: int
    reorder_point: int | None
    reorder_quantity: int | None
    pack_size: int
