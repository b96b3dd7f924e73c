from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

EventType = Literal[
    "order.placed",
    "order.status_changed",
    "order.cancelled",
    "order.completed",
    "stock.adjusted",
    "stock.low",
    "product.created",
    "product.updated",
    "purchase_order.created",
    "purchase_order.sent",
    "purchase_order.received",
    "webhook_endpoint.disabled",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


class EventOut(BaseModel):
    id: str = Field(examples=["evt_019a4f3c2b1e3f9d2c7a11e0b4d5"])
    type: EventType
    version: int = Field(description="The version of `data`'s shape for this type.")
    occurred_at: dt.datetime
    data: dict[str, Any] = Field(description="The resource as the API shows it, after the change.")
