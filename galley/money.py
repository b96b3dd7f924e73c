"""Money on the wire: integer minor units and an ISO 4217 currency, never floats."""

from __future__ import annotations

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


# ISO 4217 currencies whose minor unit is not a hundredth.
_ZERO_DECIMALS = ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF"]
_ZERO_DECIMALS += ["UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"]
_DECIMALS = dict.fromkeys(_ZERO_DECIMALS, 0) | dict.fromkeys(
    ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3
)


def shown(amount: int, currency: str) -> str:
    """An amount for people to read: `1250, "EUR"` is "12.50 EUR", `500, "JPY"` "500 JPY"."""
    decimals = _DECIMALS.get(currency, 2)
    whole, part = divmod(amount, 10**decimals)
    return f"{whole}.{part:0{decimals}d} {currency}" if decimals else f"{whole} {currency}"
