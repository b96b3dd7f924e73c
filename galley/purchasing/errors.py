from __future__ import annotations

from galley.errors import Conflict, NotFound
from galley.purchasing.rules import POStatus


class SupplierNotFound(NotFound):
    code = "supplier-not-found"

    def __init__(self, supplier_id: str) -> None:
        super().__init__(f"There is no supplier {supplier_id}.")


class SupplierCurrencyInUse(Conflict):
    code = "supplier-currency-in-use"
    title = "Currency in use"

    def __init__(self, supplier_id: int, currency: str) -> None:
        super().__init__(
            f"Supplier {supplier_id} has unit costs in {currency} on its purchase orders; "
            "they would be read in the new currency, so it cannot change."
        )


class SupplierHasNoWebhook(Conflict):
    code = "supplier-has-no-webhook"
    title = "No webhook"

    def __init__(self, supplier_id: int) -> None:
        super().__init__(
            f"Supplier {supplier_id} has no webhook_url, so there is no signing secret to "
            "rotate; setting a webhook_url gives it one."
        )


class PurchaseOrderNotFound(NotFound):
    code = "purchase-order-not-found"

    def __init__(self, po_id: str) -> None:
        super().__init__(f"There is no purchase order {po_id}.")


class IllegalPurchaseOrderTransition(Conflict):
    code = "illegal-transition"
    title = "Illegal transition"

    def __init__(self, current: POStatus, action: str) -> None:
        super().__init__(
            f"Cannot {action} this purchase order: it is {current}.", current_status=current
        )


class EmptyPurchaseOrder(Conflict):
    code = "empty-purchase-order"

    def __init__(self, po_id: str) -> None:
        super().__init__(f"Purchase order {po_id} has nothing on it to send.")


class OverReceipt(Conflict):
    code = "over-receipt"

    def __init__(self, lines: list[dict[str, object]]) -> None:
        skus = ", ".join(str(line["sku"]) for line in lines)
        super().__init__(
            f"Receiving more than was ordered of {skus}; send allow_over_receipt: true "
            "to accept it.",
            lines=lines,
        )
