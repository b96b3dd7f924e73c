"""Payment rules: the states of a payment, what an order's payment status is, and how much
may still be charged or refunded. No I/O; amounts are integer minor units.

A gateway's messages arrive late, twice or out of order, so a payment only moves
forward: a message that would take it back, or to where it already is, changes nothing
(`after`). Only a move that the states below do not allow at all is an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

PaymentStatus = Literal["pending", "authorized", "captured", "failed", "cancelled"]
PAYMENT_STATUSES: tuple[PaymentStatus, ...] = (
    "pending",
    "authorized",
    "captured",
    "failed",
    "cancelled",
)

RefundStatus = Literal["pending", "succeeded", "failed"]
# A pending refund counts as given back already: two at once never exceed what was taken.
REFUND_STATUSES: tuple[RefundStatus, ...] = ("pending", "succeeded", "failed")

OrderPaymentStatus = Literal["unpaid", "authorized", "paid", "partially_refunded", "refunded"]

# Where each state may go. `captured`, `failed` and `cancelled` are where a payment ends;
# its money then moves only by refunds.
_NEXT: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    "pending": frozenset({"authorized", "captured", "failed", "cancelled"}),
    "authorized": frozenset({"captured", "cancelled"}),
    "captured": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}


class IllegalPaymentMove(Exception):
    def __init__(self, current: PaymentStatus, to: PaymentStatus) -> None:
        super().__init__(f"a payment that is {current} cannot become {to}")
        self.current = current
        self.to = to


def after(current: PaymentStatus, to: PaymentStatus) -> PaymentStatus | None:
    """The status a payment takes when the gateway says it is `to`: `to`, or None when
    nothing changes (it is there already, or has gone past it: a late or repeated
    message). A payment that ended otherwise cannot take `to` (`IllegalPaymentMove`):
    the gateway and Galley disagree, which the caller must report, not paper over."""
    if to == current or (current == "captured" and to == "authorized"):
        return None
    if to in _NEXT[current]:
        return to
    raise IllegalPaymentMove(current, to)


@dataclass(frozen=True)
class Paid:
    """What the payments of one order add up to."""

    total: int  # the order's
    captured: int
    authorized: int  # authorized and not yet captured
    pending: int
    refunded: int

    @property
    def balance(self) -> int:
        """What is left to charge: the total less every payment still live."""
        return max(0, self.total - self.captured - self.authorized - self.pending)

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded

    @property
    def status(self) -> OrderPaymentStatus:
        if self.refunded and self.refunded >= self.captured:
            return "refunded"
        if self.refunded:
            return "partially_refunded"
        if self.total and self.captured >= self.total:
            return "paid"
        if self.authorized and self.captured + self.authorized >= self.total:
            return "authorized"
        return "unpaid" if self.total else "paid"


def paid(total: int, payments: Iterable[tuple[PaymentStatus, int]], refunded: int = 0) -> Paid:
    """`payments` are (status, amount) of each payment of the order."""
    sums = dict.fromkeys(PAYMENT_STATUSES, 0)
    for status, amount in payments:
        sums[status] += amount
    return Paid(total, sums["captured"], sums["authorized"], sums["pending"], refunded)


class RefundRefused(ValueError):
    pass


def refund_amount(asked: int | None, refundable: int) -> int:
    """The amount to refund: `asked`, or all that is refundable when not given; never more
    than was captured less what was refunded, never nothing."""
    if refundable <= 0:
        raise RefundRefused("nothing is left to refund on this order")
    if asked is None:
        return refundable
    if asked <= 0:
        raise RefundRefused("a refund must be of at least one minor unit")
    if asked > refundable:
        raise RefundRefused(f"at most {refundable} can be refunded, not {asked}")
    return asked


def change_due(amount: int, tendered: int) -> int:
    """What a cashier hands back for a cash payment of `amount` from `tendered`."""
    if tendered < amount:
        raise ValueError(f"{tendered} tendered does not cover {amount}")
    return tendered - amount
