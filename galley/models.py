"""Every table, so that metadata (and Alembic) sees them all."""

from galley.audit.models import AuditEvent
from galley.catalog.models import Product
from galley.db import Base
from galley.events.models import ConsumedEvent, ConsumerPosition, Event, EventStream
from galley.http.idempotency import IdempotencyKey
from galley.identity.models import ApiKey, RefreshToken, User
from galley.inventory.models import Location, StockLedgerEntry, StockLevel
from galley.orders.models import Order, OrderEvent, OrderLine
from galley.payments.models import GatewayNotice, Payment, Refund
from galley.purchasing.models import (
    PurchaseOrder,
    PurchaseOrderEvent,
    PurchaseOrderLine,
    Supplier,
)
from galley.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "ConsumedEvent",
    "ConsumerPosition",
    "Event",
    "EventStream",
    "GatewayNotice",
    "IdempotencyKey",
    "Location",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Payment",
    "Product",
    "PurchaseOrder",
    "PurchaseOrderEvent",
    "PurchaseOrderLine",
    "RefreshToken",
    "Refund",
    "StockLedgerEntry",
    "StockLevel",
    "Supplier",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
