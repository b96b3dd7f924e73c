"""The data set: a shop of 10 000 products at 2 locations, with stock, 1 000 customers and
an API key, loaded in seconds.

Locations and customers go through Galley's services. Products, stock levels and their
ledger entries are written in bulk through Galley's own tables, one statement each, as
an import would: row by row through the services costs some 150 000 statements, and
would leave 10 000 `product.created` events for the worker to publish during the run.
The figures are consistent (each level's `on_hand` is its ledger's sum), so the stock
invariants hold from the start and are checked at the end.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from galley.audit.service import Origin
from galley.catalog.models import Product
from galley.config import load_settings
from galley.db import Database, utcnow
from galley.identity import credentials
from galley.identity import service as identity
from galley.inventory import service as inventory
from galley.inventory.models import Location, StockLedgerEntry, StockLevel
from galley.inventory.schemas import LocationCreate
from tests.auth import api_key

KITCHEN, SHOP = "KITCHEN", "SHOP"
# S2's one SKU, with stock that never runs out; S5's, with 1 000 units and no backorders.
HOT_SKU, SELLOUT_SKU = "HOT-0001", "SELLOUT-0001"
SELLOUT_UNITS = 1_000
# Enough that S1, S4 and the warm-ups never run a SKU out: every order stays in stock.
KITCHEN_STOCK = 1_000_000
HOT_STOCK = 1_000_000_000
CUSTOMER_PASSWORD = "bench-customer-password"  # noqa: S105 - a throwaway database's

WORDS = (
    "espresso", "filter", "tea", "matcha", "croissant", "sourdough", "cheese", "olive",
    "syrup", "cake", "soup", "salad", "granola", "butter", "cream", "chocolate",
)  # fmt: skip
SIZES = ("small", "medium", "large", "family", "catering")


@dataclass(frozen=True)
class Shop:
    skus: list[str]
    customer_emails: list[str]
    api_key: str


def _products(count: int, rng: random.Random) -> list[dict[str, Any]]:
    now = utcnow()

    def product(sku: str, name: str, price: int, backorder: bool = True) -> dict[str, Any]:
        return {
            "sku": sku,
            "name": name,
            "description": f"{name}, from the bench shop." if rng.random() < 0.7 else None,
            "price_amount": price,
            "price_currency": "EUR",
            "active": rng.random() < 0.95,
            "supplier_id": None,
            "allow_backorder": backorder,
            "margin_pct": 20,
            "pack_size": 1,
            "created_at": now,
            "updated_at": now,
        }

    rows = [
        product(
            f"SKU-{n:05d}",
            f"{rng.choice(SIZES).title()} {rng.choice(WORDS)} {n}",
            rng.randint(50, 5_000),
        )
        for n in range(1, count + 1)
    ]
    rows += [product(HOT_SKU, "Hot seller", 250), product(SELLOUT_SKU, "Last batch", 900, False)]
    for row in rows[-2:]:
        row["active"] = True
    return rows


async def _bulk(database_url: str, count: int, rng: random.Random) -> list[str]:
    """Products, their stock at both locations and the ledger behind it; the SKUs on sale."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            rows = _products(count, rng)
            await connection.execute(insert(cast(Table, Product.__table__)), rows)
            found = await connection.execute(select(Product.id, Product.sku, Product.active))
            products = found.all()
            locations = dict((await connection.execute(select(Location.code, Location.id))).all())
            stock: list[tuple[int, int, int]] = []
            for product_id, sku, _ in products:
                kitchen = {HOT_SKU: HOT_STOCK, SELLOUT_SKU: SELLOUT_UNITS}.get(sku, KITCHEN_STOCK)
                stock.append((product_id, locations[KITCHEN], kitchen))
                if sku.startswith("SKU-") and rng.random() < 0.8:
                    stock.append((product_id, locations[SHOP], rng.randint(1, 200)))
            now = utcnow()
            await connection.execute(
                insert(cast(Table, StockLevel.__table__)),
                [
                    {"product_id": p, "location_id": loc, "on_hand": n, "reserved": 0,
                     "backordered": 0, "incoming": 0, "updated_at": now}
                    for p, loc, n in stock
                ],
            )  # fmt: skip
            await connection.execute(
                insert(cast(Table, StockLedgerEntry.__table__)),
                [
                    {"product_id": p, "location_id": loc, "delta": n, "reason": "received",
                     "reference": "bench opening stock", "actor": "bench", "created_at": now}
                    for p, loc, n in stock
                ],
            )  # fmt: skip
    finally:
        await engine.dispose()
    return sorted(sku for _, sku, active in products if active and sku.startswith("SKU-"))


async def _customers(database: Database, count: int) -> list[str]:
    """`count` customer accounts, all with one password.

    Argon2 takes ~0.1 s a hash by design; 1 000 of them would be most of the set-up. The
    accounts share one hash (each is still a real, checked Argon2 hash), computed once.
    """
    real_hash = credentials.hash_password
    credentials.hash_password = functools.cache(real_hash)
    emails = [f"customer-{n:04d}@bench.example" for n in range(1, count + 1)]
    origin = Origin(actor="bench")
    keys = database.settings.sealing_keys
    try:
        for start in range(0, count, 100):
            async with database.transaction() as session:
                for email in emails[start : start + 100]:
                    await identity.create_user(
                        session, email, CUSTOMER_PASSWORD, "customer", keys, origin=origin
                    )
    finally:
        credentials.hash_password = real_hash
    return emails


async def load(database_url: str, products: int, customers: int, seed: int = 11) -> Shop:
    """Fill the freshly migrated database at `database_url`."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable data set, not a secret
    database = Database(load_settings(database_url=database_url))
    try:
        async with database.transaction() as session:
            await inventory.create_location(session, LocationCreate(code=KITCHEN, name="Kitchen"))
            await inventory.create_location(session, LocationCreate(code=SHOP, name="Shop"))
        skus = await _bulk(database_url, products, rng)
        emails = await _customers(database, customers)
    finally:
        await database.dispose()
    return Shop(skus, emails, await api_key(database_url))
