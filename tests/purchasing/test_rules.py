from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from galley.inventory.rules import Cover
from galley.orders.rules import fill_oldest_first
from galley.purchasing.rules import purchase_quantity, reorder_top_up, round_to_packs


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
