"""Order rules: the lifecycle and what makes an order acceptable. No I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

Status = Literal["awaiting_stock", "confirmed", "preparing", "ready", "completed", "cancelled"]
STATUSES: tuple[Status, ...] = (
    "awaiting_stock",
    "confirmed",
    "preparing",
    "ready",
    "completed",
    "cancelled",
)
OPEN_STATUSES: tuple[Status, ...] = ("awaiting_stock", "confirmed", "preparing", "ready")
# What the kitchen has to do: orders whose stock is there, until they are handed over.
FULFILMENT_QUEUE: tuple[Status, ...] = ("confirmed", "preparing", "ready")
Action = Literal["start", "ready", "complete", "cancel"]

MAX_LINES = 100
MAX_QUANTITY = 10_000

# Which action moves an order from which state to which.
_TRANSITIONS: dict[Action, tuple[tuple[Status, ...], Status]] = {
    "start": (("confirmed",), "preparing"),
    "ready": (("preparing",), "ready"),
    "complete": (("ready",), "completed"),
    "cancel": (OPEN_STATUSES, "cancelled"),
}


class IllegalTransition(Exception):
    def __init__(self, current: Status, action: Action) -> None:
        super().__init__(f"cannot {action} an order that is {current}")
        self.current = current
        self.action = action


# A customer may cancel their order until the kitchen starts on it.
CUSTOMER_CANCELLABLE: tuple[Status, ...] = ("awaiting_stock", "confirmed")


def next_status(current: Status, action: Action, *, by_customer: bool = False) -> Status:
    allowed_from, target = _TRANSITIONS[action]
    if by_customer and action == "cancel":
        allowed_from = CUSTOMER_CANCELLABLE
    if current not in allowed_from:
        raise IllegalTransition(current, action)
    return target


def status_after_placing(backordered: Sequence[int]) -> Status:
    """An order waits for stock while any line is short; otherwise it is confirmed."""
    return "awaiting_stock" if any(backordered) else "confirmed"


def duplicate_skus(skus: Sequence[str]) -> list[str]:
    return sorted(sku for sku, n in Counter(skus).items() if n > 1)


def line_total(unit_price: int, quantity: int) -> int:
    return unit_price * quantity


def fill_oldest_first(free: int, waiting: Sequence[int]) -> list[int]:
    """Share `free` units among backorders given oldest first: each takes what it can."""
    given = []
    for wanted in waiting:
        take = max(0, min(free, wanted))
        given.append(take)
        free -= take
    return given
