from __future__ import annotations

from galley.errors import Conflict, NotFound


class ProductNotFound(NotFound):
    code = "product-not-found"

    def __init__(self, sku: str) -> None:
        super().__init__(f"There is no product with SKU {sku}.")


class DuplicateSku(Conflict):
    code = "duplicate-sku"

    def __init__(self, sku: str) -> None:
        super().__init__(f"A product with SKU {sku} already exists.")


class ProductInUse(Conflict):
    code = "product-in-use"

    def __init__(self, sku: str) -> None:
        super().__init__(
            f"Product {sku} appears on orders or in the stock ledger and cannot be deleted; "
            "set active to false instead."
        )
