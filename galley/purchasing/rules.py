"""The replenishment rule and the purchase-order lifecycle: plain functions, no I/O."""

from __future__ import annotations

from typing import Literal

POStatus = Literal["draft", "sent", "partially_received", "received", "cancelled"]
PO_STATUSES: tuple[POStatus, ...] = ("draft", "sent", "partially_received", "received", "cancelled")
# Purchase orders whose unreceived quantities are on their way (`incoming`).
OPEN_PO_STATUSES: tuple[POStatus, ...] = ("draft", "sent", "partially_received")
# A receipt may arrive for a draft too (goods delivered before the order was sent).
RECEIVABLE: tuple[POStatus, ...] = OPEN_PO_STATUSES
POAction = Literal["send", "cancel"]

_TRANSITIONS: dict[POAction, tuple[tuple[POStatus, ...], POStatus]] = {
    "send": (("draft",), "sent"),
    "cancel": (("draft", "sent"), "cancelled"),
}


class IllegalPOTransition(Exception):
    def __init__(self, current: POStatus, action: POAction) -> None:
        super().__init__(f"cannot {action} a purchase order that is {current}")
        self.current = current
        self.action = action


def next_po_status(current: POStatus, action: POAction) -> POStatus:
    allowed_from, target = _TRANSITIONS[action]
    if current not in allowed_from:
        raise IllegalPOTransition(current, action)
    return target


def status_after_receipt(lines: list[tuple[int, int]]) -> POStatus:
    """`(ordered, received)` per line: received once every line has all it ordered."""
    return "received" if all(got >= ordered for ordered, got in lines) else "partially_received"


def round_to_packs(quantity: int, pack_size: int) -> int:
    """Whole packs only: 7 in packs of 6 is 12."""
    return -(-quantity // pack_size) * pack_size


def purchase_quantity(uncovered: int, margin_pct: int, pack_size: int) -> int:
    """What to buy for `uncovered` units: plus the safety margin, rounded up, in whole packs.

    6 uncovered with a 20% margin is ceil(7.2) = 8. Integer arithmetic, so no float ever
    rounds 7.000000001 up to 8.
    """
    if uncovered <= 0:
        return 0
    with_margin = -(-uncovered * (100 + margin_pct) // 100)
    return round_to_packs(with_margin, pack_size)


def reorder_top_up(
    available: int,
    spare: int,
    reorder_point: int | None,
    reorder_quantity: int | None,
    pack_size: int,
) -> int:
    """Classic min/max: when what is free and on its way falls below the reorder point,
    buy the reorder quantity (in whole packs)."""
    if reorder_point is None or reorder_quantity is None:
        return 0
    if available + spare >= reorder_point:
        return 0
    return round_to_packs(reorder_quantity, pack_size)
