from __future__ import annotations

import pytest

from galley.money import shown


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1250, "EUR", "12.50 EUR"),
        (5, "USD", "0.05 USD"),
        (500, "JPY", "500 JPY"),
        (1234, "KWD", "1.234 KWD"),
        (0, "EUR", "0.00 EUR"),
    ],
)
def test_an_amount_is_shown_in_major_units(amount: int, currency: str, text: str) -> None:
    assert shown(amount, currency) == text
