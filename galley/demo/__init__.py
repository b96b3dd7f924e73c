"""`galley demo`: fill an empty database with a small, realistic shop, and accounts to
log in with (an admin, a staff member and a customer).

Everything goes through the services, as a client of the API would: locations, suppliers,
products, stock adjustments, orders and their transitions, purchase orders sent and
received, all with "demo" as the actor. The shop trades for a few days: each morning the
goods that are due arrive and go to waiting orders, and yesterday's drafts go out; the
day's orders then backorder what is short, which the rule puts on new drafts. A seeded
random source makes every run build the same shop.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from galley.catalog import service as catalog
from galley.catalog.schemas import ProductCreate
from galley.config import Settings
from galley.db import Database
from galley.demo import accounts, buying, catalogue, shop
from galley.inventory import service as inventory
from galley.orders import views
from galley.purchasing import suppliers

# Products per transaction: few commits keep SQLite quick; the bar still moves per product.
BATCH = 50
# Long enough for the quicker suppliers to deliver, too short for the slowest.
DAYS = 7


async def is_empty(settings: Settings) -> bool:
    database = Database(settings)
    try:
        async with database.transaction(read_only=True) as session:
            products, _ = await catalog.list_products(
                session, q=None, active=None, cursor=None, limit=1
            )
            locations, _ = await inventory.list_locations(session, None, 1)
            orders, _ = await views.list_orders(
                session,
                settings.sealing_keys,
                status=None,
                location=None,
                customer_ref=None,
                cursor=None,
                limit=1,
            )
            sources, _ = await suppliers.list_suppliers(session, None, 1)
    finally:
        await database.dispose()
    return not (products or locations or orders or sources)


async def fill(settings: Settings, *, products: int = 200, orders: int = 40, seed: int = 7) -> None:
    """Build the demo shop in a database that `is_empty`; the same seed builds the same shop."""
    rng = random.Random(seed)  # noqa: S311 - a demo needs repeatability, not secrecy
    database = Database(settings)
    columns = (TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, TimeElapsedColumn()) as progress:
            stocking = progress.add_task("Products and stock", total=products)
            ordering = progress.add_task("Orders", total=orders)
            purchasing = progress.add_task("Purchasing", total=DAYS - 1)
            lead_times, listed = await _open_shop(
                database, products, rng, lambda: progress.advance(stocking)
            )
            for_sale = [product for product in listed if product.active]
            skus = [product.sku for product in for_sale]
            backorderable = [p.sku for p in for_sale if p.replenishment.allow_backorder]
            buyer = buying.Buyer(lead_times)
            for day in range(DAYS):
                if day:
                    await buyer.morning(database, day)
                    progress.advance(purchasing)
                for _ in range(_orders_on(day, orders) if skus else 0):
                    async with database.transaction() as session:
                        await shop.serve(session, settings, rng, skus, backorderable)
                    progress.advance(ordering)
            served, bought = await _tally(database)
            people = await accounts.open_accounts(database)
        progress.console.print(
            f"Demo shop ready: {products} products from {len(lead_times)} suppliers; "
            f"orders: {_counts(served)}; purchase orders: {_counts(bought)}.",
            highlight=False,
        )
        progress.console.print(accounts.how_to_log_in(people), highlight=False, markup=False)
    finally:
        await database.dispose()


async def _open_shop(
    database: Database,
    count: int,
    rng: random.Random,
    advance: Callable[[], None],
) -> tuple[dict[str, int], list[ProductCreate]]:
    """Locations, suppliers, and `count` products with their opening stock.

    Returns each supplier's lead time by its id, and the products.
    """
    settings, currency = database.settings, database.settings.currency
    async with database.transaction() as session:
        for location in catalogue.LOCATIONS:
            await inventory.create_location(session, location)
        sources = {
            kind: (await suppliers.create_supplier(session, supplier, settings))[0]
            for kind, supplier in catalogue.suppliers(currency).items()
        }
    listed = catalogue.products(count, currency, rng, {k: s.id for k, s in sources.items()})
    for start in range(0, count, BATCH):
        batch = listed[start : start + BATCH]
        async with database.transaction() as session:
            for product in batch:
                await catalog.create_product(session, product, currency)
                advance()
            await shop.stock_up(session, settings, [product.sku for product in batch], rng)
    return {str(s.id): s.lead_time_days for s in sources.values()}, listed


def _orders_on(day: int, orders: int) -> int:
    """The day's share of the orders, spread evenly over the days."""
    return (day + 1) * orders // DAYS - day * orders // DAYS


async def _tally(database: Database) -> tuple[Counter[str], Counter[str]]:
    """Orders and purchase orders by the status they end in, read back as the API lists them."""
    served: Counter[str] = Counter()
    async with database.transaction(read_only=True) as session:
        cursor: str | None = None
        while True:
            page, cursor = await views.list_orders(
                session,
                database.settings.sealing_keys,
                status=None,
                location=None,
                customer_ref=None,
                cursor=cursor,
                limit=100,
            )
            served.update(order.status for order in page)
            if cursor is None:
                break
        bought: Counter[str] = Counter(
            po.status for po in await buying.every_purchase_order(session)
        )
    return served, bought


def _counts(statuses: Counter[str]) -> str:
    return ", ".join(f"{n} {status}" for status, n in statuses.most_common()) or "none"
