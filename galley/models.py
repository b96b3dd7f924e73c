"""Every table, so that metadata (and Alembic) sees them all."""

from galley.catalog.models import Product
from galley.db import Base
from galley.http.idempotency import IdempotencyKey
from galley.inventory.models import Location, StockLedgerEntry, StockLevel
from galley.orders.models import Order, OrderEvent, OrderLine
from galley.purchasing.models import (
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    Supplier,
)

__all__ = [
    "Base",
    "IdempotencyKey",
    "Location",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Product",
    "PurchaseOrder",
    "PurchaseOrderEvent",
    "PurchaseOrderLine",
    "StockLedgerEntry",
    "StockLevel",
    "Supplier",
]
