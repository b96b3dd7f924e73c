"""The payment rules, called directly: states, what an order has paid, refunds, change."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galley.payments.rules import (
    PAYMENT_STATUSES,
    IllegalPaymentMove,
    PaymentStatus,
    RefundRefused,
    after,
    change_due,
    paid,
    refund_amount,
)

statuses = st.sampled_from(PAYMENT_STATUSES)
ENDED = ("captured", "failed", "cancelled")


@pytest.mark.parametrize(
    ("current", "to", "expected"),
    [
        ("pending", "authorized", "authorized"),
        ("pending", "captured", "captured"),
        ("pending", "failed", "failed"),
        ("pending", "cancelled", "cancelled"),
        ("authorized", "captured", "captured"),
        ("authorized", "cancelled", "cancelled"),
        # Late or repeated: nothing changes.
        ("authorized", "authorized", None),
        ("captured", "captured", None),
        ("captured", "authorized", None),
        ("failed", "failed", None),
    ],
)
def test_a_payment_moves_forward_and_a_late_or_repeated_message_changes_nothing(
    current: PaymentStatus, to: PaymentStatus, expected: PaymentStatus | None
) -> None:
    assert after(current, to) == expected


@pytest.mark.parametrize(
    ("current", "to"),
    [
        ("captured", "failed"),
        ("captured", "cancelled"),
        ("cancelled", "captured"),
        ("failed", "captured"),
        ("authorized", "failed"),
        ("authorized", "pending"),
    ],
)
def test_a_payment_that_ended_otherwise_cannot_take_another_end(
    current: PaymentStatus, to: PaymentStatus
) -> None:
    with pytest.raises(IllegalPaymentMove, match=f"{current} cannot become {to}"):
        after(current, to)


@given(st.lists(statuses, max_size=12))
def test_whatever_the_gateway_says_in_whatever_order_a_payment_never_leaves_its_end(
    messages: list[PaymentStatus],
) -> None:
    current: PaymentStatus = "pending"
    for message in messages:
        try:
            moved = after(current, message)
        except IllegalPaymentMove:
            assert current in ENDED or current == "authorized"
            continue
        if current in ENDED:
            assert moved is None
        current = moved or current


def test_what_an_order_has_paid() -> None:
    assert paid(1000, []).status == "unpaid"
    assert paid(1000, []).balance == 1000
    assert paid(1000, [("pending", 1000)]).balance == 0
    assert paid(1000, [("failed", 1000)]).balance == 1000
    assert paid(1000, [("authorized", 1000)]).status == "authorized"
    assert paid(1000, [("captured", 400), ("authorized", 600)]).status == "authorized"
    assert paid(1000, [("captured", 400)]).status == "unpaid"
    assert paid(1000, [("captured", 400), ("captured", 600)]).status == "paid"
    assert paid(1000, [("captured", 1000)], refunded=300).status == "partially_refunded"
    assert paid(1000, [("captured", 1000)], refunded=1000).status == "refunded"
    assert paid(1000, [("captured", 1000)], refunded=300).refundable == 700
    assert paid(0, []).status == "paid"


@given(
    st.integers(0, 10**6),
    st.lists(st.tuples(statuses, st.integers(1, 10**6)), max_size=6),
    st.integers(0, 10**6),
)
def test_the_balance_is_never_negative_and_counts_every_live_payment(
    total: int, payments: list[tuple[PaymentStatus, int]], refunded: int
) -> None:
    figures = paid(total, payments, refunded)
    live = sum(amount for status, amount in payments if status not in ("failed", "cancelled"))
    assert figures.balance == max(0, total - live)


def test_a_refund_is_never_more_than_was_captured_less_what_was_refunded() -> None:
    assert refund_amount(None, 700) == 700
    assert refund_amount(200, 700) == 200
    with pytest.raises(RefundRefused, match="at most 700"):
        refund_amount(701, 700)
    with pytest.raises(RefundRefused, match="at least one"):
        refund_amount(0, 700)
    with pytest.raises(RefundRefused, match="nothing is left"):
        refund_amount(None, 0)


def test_the_change_of_a_cash_payment() -> None:
    assert change_due(1250, 2000) == 750
    assert change_due(1250, 1250) == 0
    with pytest.raises(ValueError, match="does not cover"):
        change_due(1250, 1000)
