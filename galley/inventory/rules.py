"""Stock rules: plain functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AdjustmentReason = Literal["received", "count", "damaged", "returned", "other"]
ADJUSTMENT_REASONS: tuple[str, ...] = ("received", "count", "damaged", "returned", "other")
# `consumed`: stock that left with a completed order.
LEDGER_REASONS: tuple[str, ...] = (*ADJUSTMENT_REASONS, "consumed")


@dataclass(frozen=True)
class Allocation:
    allocated: int
    backordered: int


def allocate(available: int, requested: int) -> Allocation:
    """Take what stock there is now; the rest waits as a backorder."""
    if requested < 1:
        raise ValueError("requested must be positive")
    allocated = max(0, min(available, requested))
    return Allocation(allocated=allocated, backordered=requested - allocated)


@dataclass(frozen=True)
class Cover:
    """How incoming stock covers backorders for one SKU at one location."""

    backordered: int
    incoming: int

    @property
    def promised(self) -> int:
        """Incoming units already spoken for by waiting orders."""
        return min(self.backordered, self.incoming)

    @property
    def spare(self) -> int:
        """Incoming units no order waits for yet."""
        return self.incoming - self.promised

    @property
    def uncovered(self) -> int:
        """Backordered units nothing is on its way for."""
        return self.backordered - self.promised


def fell_low(before: int, after: int, reorder_point: int | None) -> bool:
    """Whether available stock just fell below the reorder point, or to zero or below."""
    to_zero = before > 0 >= after
    below_point = reorder_point is not None and before >= reorder_point > after
    return to_zero or below_point


def can_adjust(on_hand: int, reserved: int, delta: int) -> bool:
    """Stock promised to orders cannot be adjusted away."""
    return on_hand + delta >= reserved
