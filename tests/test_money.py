from __future__ import annotations

import pytest
from iso4217 import Currency

from galley.money import minor_units, shown


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


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("EUR", 2), ("JPY", 0), ("KWD", 3), ("CLF", 4), ("UYI", 0), ("UYW", 4), ("ISK", 0)],
)
def test_minor_units_are_iso_4217s(currency: str, digits: int) -> None:
    assert minor_units(currency) == digits


def test_an_amount_of_four_decimals_is_shown_with_four() -> None:
    assert shown(12345, "CLF") == "1.2345 CLF"


@pytest.mark.parametrize("currency", ["ZZZ", "DEM", "HRK", "eur", "EURO", ""])
def test_a_code_that_is_no_currency_in_use_is_refused(currency: str) -> None:
    with pytest.raises(ValueError, match="no ISO 4217 currency in use"):
        minor_units(currency)


@pytest.mark.parametrize("currency", ["XAU", "XDR", "XTS", "XXX"])
def test_a_code_without_minor_units_prices_nothing(currency: str) -> None:
    with pytest.raises(ValueError, match="has no minor unit"):
        minor_units(currency)


def test_every_currency_in_use_has_minor_units_or_says_it_has_none() -> None:
    """The table is ISO's own, so every code it lists is either usable or refused by name."""
    listed = list(Currency)
    usable = [currency.code for currency in listed if currency.exponent is not None]
    assert len(listed) > 170
    assert len(usable) > 150
    assert all(0 <= minor_units(code) <= 4 for code in usable)
