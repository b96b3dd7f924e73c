"""Stock rules, without a database."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from galley.inventory.rules import fell_low

figures = st.integers(min_value=-50, max_value=50)
points = st.none() | st.integers(min_value=0, max_value=50)


def test_stock_falls_low_when_it_crosses_the_reorder_point_or_reaches_zero() -> None:
    assert fell_low(6, 4, 5)
    assert fell_low(5, 4, 5)
    assert fell_low(1, 0, None)
    assert fell_low(3, -2, 5)  # below the point already, and now to zero


def test_stock_already_low_or_rising_is_not_announced_again() -> None:
    assert not fell_low(4, 3, 5)
    assert not fell_low(0, 0, 5)
    assert not fell_low(3, 6, 5)
    assert not fell_low(6, 5, 5)
    assert not fell_low(2, 1, None)


@given(figures, figures, points)
def test_only_a_fall_is_ever_announced(before: int, after: int, point: int | None) -> None:
    if after >= before:
        assert not fell_low(before, after, point)


@given(figures, figures, points)
def test_a_fall_to_zero_is_always_announced(before: int, after: int, point: int | None) -> None:
    if before > 0 >= after:
        assert fell_low(before, after, point)
