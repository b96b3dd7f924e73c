from __future__ import annotations

from galley.errors import Conflict, NotFound


class LocationNotFound(NotFound):
    code = "location-not-found"

    def __init__(self, code: str) -> None:
        super().__init__(f"There is no location with code {code}.")


class DuplicateLocation(Conflict):
    code = "duplicate-location"

    def __init__(self, code: str) -> None:
        super().__init__(f"A location with code {code} already exists.")


class StockReserved(Conflict):
    code = "stock-reserved"

    def __init__(self, sku: str, location: str, on_hand: int, reserved: int, delta: int) -> None:
        super().__init__(
            f"Adjusting {sku} at {location} by {delta} would leave {on_hand + delta} on hand, "
            f"below the {reserved} reserved for orders.",
            on_hand=on_hand,
            reserved=reserved,
        )


class LedgerEntryNotFound(NotFound):
    code = "ledger-entry-not-found"

    def __init__(self, entry_id: int) -> None:
        super().__init__(f"There is no stock ledger entry {entry_id}.")
