"""The order lifecycle as plain rules: every (state, action) pair, no server, no database.

The expected table is written out here by hand rather than read from the rule module, so a
change to the rules shows up as a failing case instead of passing along with it.
"""

from __future__ import annotations

from itertools import product
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galley.orders.errors import IllegalOrderTransition
from galley.orders.rules import (
    CUSTOMER_CANCELLABLE,
    FULFILMENT_QUEUE,
    OPEN_STATUSES,
    STATUSES,
    Action,
    IllegalTransition,
    Status,
    next_status,
    status_after_placing,
)

ACTIONS: tuple[Action, ...] = ("start", "ready", "complete", "cancel")
TERMINAL: tuple[Status, ...] = ("completed", "cancelled")

# What staff may do: every pair not listed here is refused.
STAFF_MOVES: dict[tuple[Status, Action], Status] = {
    ("confirmed", "start"): "preparing",
    ("preparing", "ready"): "ready",
    ("ready", "complete"): "completed",
    ("awaiting_stock", "cancel"): "cancelled",
    ("confirmed", "cancel"): "cancelled",
    ("preparing", "cancel"): "cancelled",
    ("ready", "cancel"): "cancelled",
}
# A customer cancels only until the kitchen starts on the order.
CUSTOMER_CANCELS: dict[Status, Status] = {
    "awaiting_stock": "cancelled",
    "confirmed": "cancelled",
}

ALL_PAIRS = list(product(STATUSES, ACTIONS))
STAFF_REFUSED = [pair for pair in ALL_PAIRS if pair not in STAFF_MOVES]
NON_CANCEL_PAIRS = [(s, a) for s, a in ALL_PAIRS if a != "cancel"]
# The forward path, for checking that no action ever moves an order back along it.
FORWARD: dict[Status, int] = {"awaiting_stock": 0, "confirmed": 1, "preparing": 2, "ready": 3}


def test_the_status_tuple_lists_exactly_the_statuses_the_type_allows() -> None:
    assert set(STATUSES) == set(get_args(Status))
    assert len(STATUSES) == len(set(STATUSES))
    assert set(ACTIONS) == set(get_args(Action))


def test_open_statuses_are_every_status_but_the_two_that_end_an_order() -> None:
    assert set(OPEN_STATUSES) == set(STATUSES) - set(TERMINAL)


def test_the_kitchen_queue_is_every_open_order_whose_stock_is_there() -> None:
    assert set(FULFILMENT_QUEUE) == set(OPEN_STATUSES) - {"awaiting_stock"}


def test_what_a_customer_may_cancel_is_a_subset_of_what_staff_may() -> None:
    assert set(CUSTOMER_CANCELLABLE) == set(CUSTOMER_CANCELS)
    assert set(CUSTOMER_CANCELLABLE) <= set(OPEN_STATUSES)


def test_every_pair_is_either_allowed_or_refused_for_staff() -> None:
    assert len(STAFF_MOVES) + len(STAFF_REFUSED) == len(STATUSES) * len(ACTIONS) == 24


@pytest.mark.parametrize(("current", "action", "target"), [(*k, v) for k, v in STAFF_MOVES.items()])
def test_an_allowed_action_moves_the_order_to_its_next_status(
    current: Status, action: Action, target: Status
) -> None:
    assert next_status(current, action) == target


@pytest.mark.parametrize(("current", "action"), STAFF_REFUSED)
def test_a_disallowed_action_is_refused_naming_the_status_and_the_action(
    current: Status, action: Action
) -> None:
    with pytest.raises(IllegalTransition) as refused:
        next_status(current, action)
    assert (refused.value.current, refused.value.action) == (current, action)
    assert str(refused.value) == f"cannot {action} an order that is {current}"


@pytest.mark.parametrize("current", STATUSES)
def test_a_customer_cancels_only_until_preparation_starts(current: Status) -> None:
    if current in CUSTOMER_CANCELS:
        assert next_status(current, "cancel", by_customer=True) == CUSTOMER_CANCELS[current]
    else:
        with pytest.raises(IllegalTransition) as refused:
            next_status(current, "cancel", by_customer=True)
        assert (refused.value.current, refused.value.action) == (current, "cancel")


@pytest.mark.parametrize(("current", "action"), NON_CANCEL_PAIRS)
def test_being_a_customer_changes_nothing_but_cancelling(current: Status, action: Action) -> None:
    """Who may start, ready or complete an order is the route's permission, not this rule."""
    try:
        as_staff: Status | None = next_status(current, action)
    except IllegalTransition:
        as_staff = None
    try:
        as_customer: Status | None = next_status(current, action, by_customer=True)
    except IllegalTransition:
        as_customer = None
    assert as_customer == as_staff


def test_the_refusal_the_client_sees_is_a_conflict_carrying_the_current_status() -> None:
    error = IllegalOrderTransition("completed", "cancel")
    assert (error.status, error.code) == (409, "illegal-transition")
    assert error.extra == {"current_status": "completed"}
    assert error.detail == "Cannot cancel this order: it is completed."


def test_an_order_with_every_line_in_stock_is_confirmed() -> None:
    assert status_after_placing([0, 0, 0]) == "confirmed"


def test_an_order_with_any_line_short_waits_for_stock() -> None:
    assert status_after_placing([0, 2, 0]) == "awaiting_stock"


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=100))
def test_an_order_waits_for_stock_exactly_when_some_line_is_backordered(
    backordered: list[int],
) -> None:
    expected = "awaiting_stock" if any(n > 0 for n in backordered) else "confirmed"
    assert status_after_placing(backordered) == expected


@given(
    start=st.sampled_from(STATUSES),
    steps=st.lists(st.tuples(st.sampled_from(ACTIONS), st.booleans()), max_size=30),
)
def test_no_sequence_of_actions_leaves_an_ended_order_or_moves_it_backwards(
    start: Status, steps: list[tuple[Action, bool]]
) -> None:
    """From any status, not only where placing puts an order, so the ended ones are tried."""
    status = start
    for action, by_customer in steps:
        try:
            after = next_status(status, action, by_customer=by_customer)
        except IllegalTransition:
            continue
        assert after in STATUSES
        assert status not in TERMINAL, f"{action} moved an order out of {status}"
        if after not in TERMINAL:
            assert FORWARD[after] > FORWARD[status]
        status = after
    if status in TERMINAL:
        for action, by_customer in product(ACTIONS, (False, True)):
            with pytest.raises(IllegalTransition):
                next_status(status, action, by_customer=by_customer)
