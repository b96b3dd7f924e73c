from __future__ import annotations

from galley.errors import Conflict, NotFound
from galley.orders.rules import Action, Status


class OrderNotFound(NotFound):
    code = "order-not-found"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"There is no order {order_id}.")


class InsufficientStock(Conflict):
    code = "insufficient-stock"
    title = "Insufficient stock"

    def __init__(self, short: list[dict[str, object]]) -> None:
        skus = ", ".join(str(line["sku"]) for line in short)
        super().__init__(
            f"Not enough stock of {skus}, which cannot be backordered; nothing was placed.",
            short=short,
        )


class IllegalOrderTransition(Conflict):
    code = "illegal-transition"
    title = "Illegal transition"

    def __init__(self, current: Status, action: Action) -> None:
        super().__init__(f"Cannot {action} this order: it is {current}.", current_status=current)
