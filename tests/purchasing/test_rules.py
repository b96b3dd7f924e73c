from __future__ import annotations

from itertools import product
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galley.inventory.rules import Cover
from galley.orders.rules import fill_oldest_first
from galley.purchasing.errors import IllegalPurchaseOrderTransition
from galley.purchasing.rules import (
    OPEN_PO_STATUSES,
    PO_STATUSES,
    RECEIVABLE,
    IllegalPOTransition,
    POAction,
    POStatus,
    next_po_status,
    purchase_quantity,
    reorder_top_up,
    round_to_packs,
    status_after_receipt,
)


def test_six_uncovered_with_a_twenty_percent_margin_buys_eight() -> None:
    assert purchase_quantity(6, 20, 1) == 8


def test_two_uncovered_with_a_twenty_percent_margin_buys_three() -> None:
    assert purchase_quantity(2, 20, 1) == 3


def test_purchases_come_in_whole_packs() -> None:
    assert purchase_quantity(6, 20, 6) == 12
    assert round_to_packs(12, 6) == 12


def test_nothing_uncovered_buys_nothing() -> None:
    assert purchase_quantity(0, 20, 6) == 0


def test_incoming_covers_backorders_before_anything_is_bought() -> None:
    cover = Cover(backordered=7, incoming=8)
    assert (cover.promised, cover.spare, cover.uncovered) == (7, 1, 0)


def test_reorder_point_tops_up_when_free_and_spare_stock_fall_below_it() -> None:
    assert (
        reorder_top_up(available=2, spare=1, reorder_point=5, reorder_quantity=10, pack_size=4)
        == 12
    )
    assert (
        reorder_top_up(available=4, spare=1, reorder_point=5, reorder_quantity=10, pack_size=4) == 0
    )
    assert (
        reorder_top_up(available=0, spare=0, reorder_point=None, reorder_quantity=None, pack_size=1)
        == 0
    )


def test_free_stock_goes_to_the_oldest_backorder_first() -> None:
    assert fill_oldest_first(7, [6, 1, 3]) == [6, 1, 0]


@given(
    uncovered=st.integers(0, 100_000),
    margin=st.integers(0, 500),
    pack=st.integers(1, 1000),
)
def test_a_purchase_covers_the_shortfall_and_margin_in_whole_packs(
    uncovered: int, margin: int, pack: int
) -> None:
    bought = purchase_quantity(uncovered, margin, pack)
    assert bought % pack == 0
    assert bought * 100 >= uncovered * (100 + margin)
    assert bought - pack < -(-uncovered * (100 + margin) // 100) or uncovered == 0


@given(free=st.integers(0, 1000), waiting=st.lists(st.integers(1, 100), max_size=20))
def test_filling_gives_nobody_more_than_they_wait_for_and_never_skips_ahead(
    free: int, waiting: list[int]
) -> None:
    given_ = fill_oldest_first(free, waiting)
    assert sum(given_) == min(free, sum(waiting))
    assert all(0 <= g <= w for g, w in zip(given_, waiting, strict=True))
    for earlier, got in enumerate(given_):
        if got:  # someone later got stock only if everyone before them got all they wanted
            assert given_[:earlier] == waiting[:earlier]


# The purchase-order lifecycle. The expected table is written out by hand, not read from
# the rule module, so a change to the rules fails a case instead of passing along with it.
PO_ACTIONS: tuple[POAction, ...] = ("send", "cancel")
PO_TERMINAL: tuple[POStatus, ...] = ("received", "cancelled")
PO_MOVES: dict[tuple[POStatus, POAction], POStatus] = {
    ("draft", "send"): "sent",
    ("draft", "cancel"): "cancelled",
    ("sent", "cancel"): "cancelled",
}
PO_REFUSED = [pair for pair in product(PO_STATUSES, PO_ACTIONS) if pair not in PO_MOVES]


def test_the_purchase_order_statuses_are_exactly_those_the_type_allows() -> None:
    assert set(PO_STATUSES) == set(get_args(POStatus))
    assert len(PO_STATUSES) == len(set(PO_STATUSES))
    assert set(PO_ACTIONS) == set(get_args(POAction))


def test_open_purchase_orders_are_all_but_received_and_cancelled_and_all_take_receipts() -> None:
    assert set(OPEN_PO_STATUSES) == set(PO_STATUSES) - set(PO_TERMINAL)
    assert set(RECEIVABLE) == set(OPEN_PO_STATUSES)


def test_every_purchase_order_pair_is_either_allowed_or_refused() -> None:
    assert len(PO_MOVES) + len(PO_REFUSED) == len(PO_STATUSES) * len(PO_ACTIONS) == 10


@pytest.mark.parametrize(("current", "action", "target"), [(*k, v) for k, v in PO_MOVES.items()])
def test_an_allowed_action_moves_the_purchase_order_to_its_next_status(
    current: POStatus, action: POAction, target: POStatus
) -> None:
    assert next_po_status(current, action) == target


@pytest.mark.parametrize(("current", "action"), PO_REFUSED)
def test_a_disallowed_purchase_order_action_is_refused_naming_status_and_action(
    current: POStatus, action: POAction
) -> None:
    with pytest.raises(IllegalPOTransition) as refused:
        next_po_status(current, action)
    assert (refused.value.current, refused.value.action) == (current, action)
    assert str(refused.value) == f"cannot {action} a purchase order that is {current}"


def test_the_refusal_the_client_sees_is_a_conflict_carrying_the_current_status() -> None:
    error = IllegalPurchaseOrderTransition("received", "cancel")
    assert (error.status, error.code) == (409, "illegal-transition")
    assert error.extra == {"current_status": "received"}
    assert error.detail == "Cannot cancel this purchase order: it is received."


def test_a_receipt_that_leaves_any_line_short_is_partial() -> None:
    assert status_after_receipt([(10, 10), (5, 4)]) == "partially_received"


def test_a_receipt_that_completes_every_line_receives_the_purchase_order() -> None:
    assert status_after_receipt([(10, 10), (5, 5)]) == "received"


def test_receiving_more_than_was_ordered_still_counts_as_received() -> None:
    assert status_after_receipt([(10, 12)]) == "received"


@given(st.lists(st.tuples(st.integers(1, 1000), st.integers(0, 1500)), min_size=1, max_size=20))
def test_a_purchase_order_is_received_exactly_when_every_line_has_what_it_ordered(
    lines: list[tuple[int, int]],
) -> None:
    expected = "received" if all(got >= ordered for ordered, got in lines) else "partially_received"
    assert status_after_receipt(lines) == expected


_Step = tuple[str, int, int]
_steps = st.one_of(
    st.tuples(st.sampled_from(PO_ACTIONS), st.just(0), st.just(0)),
    # A receipt: which line gets how many units.
    st.tuples(st.just("receive"), st.integers(0, 2), st.integers(1, 6)),
)


@given(
    ordered=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    steps=st.lists(_steps, max_size=30),
)
def test_no_sequence_of_sends_cancels_and_receipts_leaves_an_ended_purchase_order(
    ordered: list[int], steps: list[_Step]
) -> None:
    """Receipts are applied as `receiving.receive` applies them: refused unless the status
    is receivable, then the status follows from what every line has."""
    status: POStatus = "draft"
    received = [0] * len(ordered)
    for kind, line, quantity in steps:
        before = status
        if kind == "receive":
            if status not in RECEIVABLE:
                continue
            received[line % len(ordered)] += quantity
            status = status_after_receipt(list(zip(ordered, received, strict=True)))
        else:
            action: POAction = "send" if kind == "send" else "cancel"
            try:
                status = next_po_status(status, action)
            except IllegalPOTransition:
                continue
        assert status in PO_STATUSES
        assert before not in PO_TERMINAL, f"{kind} moved a purchase order out of {before}"
        if any(received):  # once goods have arrived it can be neither sent nor cancelled
            assert status in ("partially_received", "received")
    if status in PO_TERMINAL:
        assert status not in RECEIVABLE
        for action in PO_ACTIONS:
            with pytest.raises(IllegalPOTransition):
                next_po_status(status, action)
