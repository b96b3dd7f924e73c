"""Money on the wire: integer minor units and an ISO 4217 currency, never floats."""

from __future__ import annotations

from iso4217 import Currency
from pydantic import BaseModel, ConfigDict, Field

from galley.errors import FieldError, InvalidRequest

# 100 million in major units: far above any single price, well inside 64-bit totals.
MAX_AMOUNT = 10_000_000_000


class Money(BaseModel):
    """An amount as the API answers it: a line total or an order total may pass `MAX_AMOUNT`."""

    # Strict: `12.0`, `"12"` and `true` are not integer minor units.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    amount: int = Field(ge=0, description="Minor units (cents).", examples=[1250])
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.", examples=["EUR"])


class Price(Money):
    """A price a client sets: capped, so that any order's total fits in 64 bits."""

    amount: int = Field(ge=0, le=MAX_AMOUNT, description="Minor units (cents).", examples=[1250])


def require_currency(money: Money, shop_currency: str, field: str) -> None:
    if money.currency != shop_currency:
        raise InvalidRequest(
            f"Prices are in the shop currency {shop_currency}, not {money.currency}.",
            [FieldError(field=f"{field}.currency", message=f"must be {shop_currency}")],
        )


def minor_units(currency: str) -> int:
    """How many digits of `currency`'s amounts follow the point, from ISO 4217's own table
    (JPY 0, EUR 2, KWD 3, CLF 4): what an integer amount of minor units means.

    Only codes in use are known; withdrawn ones (DEM, HRK) are not. A code without minor
    units (gold, special drawing rights, the testing code XTS) is refused: nothing is
    priced in it."""
    try:
        exponent = Currency(currency).exponent
    except ValueError:
        raise ValueError(
            f"{currency!r} is no ISO 4217 currency in use: give a code such as EUR"
        ) from None
    if exponent is None:
        raise ValueError(
            f"{currency} has no minor unit in ISO 4217 (a metal, a fund or a test code): "
            "prices cannot be kept in it"
        )
    return exponent


def shown(amount: int, currency: str) -> str:
    """An amount for people to read: `1250, "EUR"` is "12.50 EUR", `500, "JPY"` "500 JPY"."""
    decimals = minor_units(currency)
    whole, part = divmod(amount, 10**decimals)
    return f"{whole}.{part:0{decimals}d} {currency}" if decimals else f"{whole} {currency}"
