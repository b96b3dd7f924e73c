from __future__ import annotations

from galley.errors import Conflict, GalleyError, InvalidRequest


class OrderPaidFor(Conflict):
    code = "order-paid-for"
    title = "Order paid for"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"Order {order_id} has nothing left to pay.")


class OrderNotPayable(Conflict):
    code = "order-not-payable"
    title = "Order not payable"

    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(f"Order {order_id} is {status}: it cannot be paid.", current_status=status)


class PaymentKeyReused(InvalidRequest):
    """The Idempotency-Key of a payment asked again with another body."""

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key already asked for a payment with another body; "
            "use a new key for a new payment."
        )


class GatewayUnavailable(GalleyError):
    status, code, title = 503, "gateway-unavailable", "Payment gateway unavailable"

    def __init__(self, gateway: str) -> None:
        super().__init__(
            f"The {gateway} gateway did not answer. The payment is recorded: ask again with "
            "the same Idempotency-Key, and it is completed, never charged twice."
        )
