"""Stock rules: plain functions, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class Level:
    """One product's figures at one location, and what names them."""

    product_id: int
    on_hand: int
    reserved: int
    backordered: int
    incoming: int
    sku: str
    location: str
    reorder_point: int | None

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def cover(self) -> Cover:
        return Cover(backordered=self.backordered, incoming=self.incoming)

    def after(self, change: LevelChange) -> Level:
        return replace(
            self,
            on_hand=self.on_hand + change.on_hand,
            reserved=self.reserved + change.reserved,
            backordered=self.backordered + change.backordered,
            incoming=self.incoming + change.incoming,
        )


@dataclass(frozen=True)
class LevelChange:
    """Signed changes of one product's figures."""

    product_id: int
    on_hand: int = 0
    reserved: int = 0
    backordered: int = 0
    incoming: int = 0


def fell_low(before: int, after: int, reorder_point: int | None) -> bool:
    """Whether available stock just fell below the reorder point, or to zero or below."""
    to_zero = before > 0 >= after
    below_point = reorder_point is not None and before >= reorder_point > after
    return to_zero or below_point


def can_adjust(on_hand: int, reserved: int, delta: int) -> bool:
    """Stock promised to orders cannot be adjusted away."""
    return on_hand + delta >= reserved


@dataclass(frozen=True)
class Plan:
    """What an order takes of each product at a location, allocated from `seen`: figures
    read under the lock (`locked`), or as they stood, to be checked under it when taken
    (`galley.inventory.levels.take`)."""

    location_id: int
    requested: Mapping[int, int]
    allocations: dict[int, Allocation]
    seen: dict[int, Level]
    locked: bool
