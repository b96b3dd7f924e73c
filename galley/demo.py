"""`galley demo`: fill an empty database with a small, realistic shop.

Everything goes through the services, as a client of the API would: locations, products,
stock adjustments, orders and their transitions, all with "demo" as the actor. A seeded
random source makes every run build the same shop.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncSession

from galley.catalog import service as catalog
from galley.catalog.schemas import ProductCreate
from galley.config import Settings
from galley.db import Database
from galley.inventory import service as inventory
from galley.inventory.schemas import LocationCreate
from galley.money import Price
from galley.orders import views
from galley.orders.lifecycle import transition
from galley.orders.placing import place_order
from galley.orders.rules import Action, Status
from galley.orders.schemas import LineRequest, OrderCreate

ACTOR = "demo"
KITCHEN, SHOP = "KITCHEN", "SHOP"
LOCATIONS = (
    LocationCreate(code=KITCHEN, name="Central kitchen"),
    LocationCreate(code=SHOP, name="Shop counter"),
)
# Products per transaction: few commits keep SQLite quick; the bar still moves per product.
BATCH = 50

# code | name | unit | sizes | price of the first size in minor units | description (optional)
_LINES = """
ESP | Espresso beans | g | 250 500 1000 | 890 | Dark roast with notes of cocoa and hazelnut.
FIL | Filter coffee, Ethiopia | g | 250 500 1000 | 990 | Washed Yirgacheffe, light roast.
DEC | Decaf espresso beans | g | 250 500 1000 | 940 |
CLD | Cold brew concentrate | ml | 250 500 1000 | 650 | Steeped for 18 hours; dilute 1:1.
GRT | Sencha green tea | g | 50 100 250 | 590 |
EGT | Earl Grey tea | g | 50 100 250 | 490 | Black tea with bergamot oil.
CHM | Chamomile tea | g | 30 60 150 | 450 |
CHA | Chai spice mix | g | 100 250 500 | 690 | Cinnamon, cardamom, ginger and clove.
MAT | Matcha powder | g | 30 100 250 | 1290 | Ceremonial grade from Uji.
GRD | Ground espresso for moka pots | g | 250 500 | 840 |
CAP | Coffee capsules, lungo | pcs | 10 50 100 | 390 | Compostable capsules.
MCH | Mocha sauce | ml | 500 1000 | 790 |
HOT | Hot chocolate flakes | g | 250 500 1000 | 790 |
MLK | Whole milk | ml | 500 1000 2000 | 109 |
OAT | Oat drink, barista | ml | 1000 6000 | 249 | Foams like milk; no added sugar.
SYV | Vanilla syrup | ml | 250 700 1000 | 690 |
SYC | Caramel syrup | ml | 250 700 1000 | 690 |
SYH | Hazelnut syrup | ml | 250 700 1000 | 690 |
CRO | Croissant | pcs | 1 6 12 | 180 | All-butter, baked every morning.
PAC | Pain au chocolat | pcs | 1 6 12 | 210 |
CIN | Cinnamon bun | pcs | 1 6 12 | 290 | Cardamom dough, brown-butter glaze.
BGL | Sesame bagel | pcs | 1 4 12 | 150 |
MUF | Blueberry muffin | pcs | 1 4 12 | 280 |
CKI | Chocolate chip cookie | pcs | 1 6 12 | 190 |
BRN | Brownie | pcs | 1 9 | 320 | Dark chocolate and sea salt.
CHC | Baked cheesecake | pcs | 1 8 | 450 |
CAK | Carrot cake | pcs | 1 8 | 420 |
BAN | Banana bread | pcs | 1 8 | 320 |
SCN | Scone with clotted cream | pcs | 1 4 | 350 |
PIZ | Pizza dough ball | pcs | 1 6 24 | 150 | 72-hour cold proof, 250 g each.
RYE | Rye crispbread | g | 200 500 | 320 |
SOU | Sourdough loaf | g | 500 1000 | 450 | 48-hour fermentation, rye starter.
BAG | Baguette | pcs | 1 3 | 240 |
FOC | Rosemary focaccia | pcs | 1 4 | 390 |
SOP | Roasted tomato soup | ml | 350 1000 | 550 | Vegan, with basil oil.
DAL | Red lentil dal | ml | 350 1000 | 620 |
LAS | Beef lasagne | g | 400 1200 | 950 |
QCH | Quiche Lorraine | pcs | 1 8 | 480 |
CLB | Club sandwich | pcs | 1 | 690 |
HCS | Ham and cheese toastie | pcs | 1 | 560 |
WRP | Falafel wrap | pcs | 1 | 640 | Hummus, pickled red cabbage and tahini.
SLD | Caesar salad | g | 250 400 | 790 |
GRA | Granola | g | 350 750 | 690 | Oats, honey, almonds and dried apricot.
YOG | Greek yoghurt | g | 150 500 1000 | 190 |
HUM | Hummus | g | 200 500 | 350 |
OLV | Kalamata olives | g | 150 500 | 420 |
PES | Basil pesto | g | 90 190 | 450 |
BRK | Breakfast burrito | pcs | 1 | 750 |
MOZ | Buffalo mozzarella | g | 125 250 1000 | 290 | From Campania.
PAR | Parmigiano Reggiano, 24 months | g | 200 500 1000 | 690 |
CHE | Mature cheddar | g | 200 1000 | 390 |
BUT | Cultured butter | g | 250 1000 | 420 |
CRM | Double cream | ml | 250 500 1000 | 249 |
EGG | Free-range eggs | pcs | 6 10 30 | 289 |
SMN | Smoked salmon | g | 100 200 500 | 590 | Cold-smoked over oak.
PRS | Prosciutto di Parma | g | 80 200 500 | 450 |
AVO | Avocado | pcs | 1 4 | 129 |
LMN | Lemon | pcs | 1 6 | 59 |
BSL | Fresh basil | g | 30 100 | 199 |
TOM | San Marzano tomatoes | g | 400 2500 | 290 |
CHK | Cooked chickpeas | g | 400 2500 | 149 |
TAH | Tahini | g | 300 1000 | 490 |
PEA | Crunchy peanut butter | g | 340 1000 | 390 |
OIL | Extra virgin olive oil | ml | 250 500 1000 5000 | 790 | Cold-pressed Koroneiki from Crete.
VIN | Balsamic vinegar | ml | 250 500 | 690 |
HON | Wildflower honey | g | 250 500 1000 | 690 |
JAM | Strawberry jam | g | 220 450 | 420 |
SPG | Spaghetti | g | 500 1000 3000 | 229 |
RIC | Arborio rice | g | 500 1000 | 349 |
FLR | Flour, type 00 | g | 1000 5000 25000 | 189 | Finely milled for pizza and pasta.
SUG | Cane sugar | g | 500 1000 5000 | 199 |
SLT | Sea salt flakes | g | 125 250 | 390 |
CHO | Dark chocolate 70 % | g | 100 250 1000 | 290 |
ALM | Roasted almonds | g | 200 500 1000 | 450 |
LEM | Cloudy lemonade | ml | 330 750 | 290 |
GNB | Ginger beer | ml | 275 750 | 260 |
JCE | Orange juice | ml | 250 1000 | 320 | Freshly pressed, not from concentrate.
WAT | Sparkling water | ml | 330 750 | 150 |
KOM | Kombucha | ml | 330 | 390 |
BEE | Craft lager | ml | 330 500 | 290 |
CID | Apple cider | ml | 330 | 320 |
WIN | Montepulciano red wine | ml | 750 | 1290 |
CUP | Paper cups, 8 oz | pcs | 50 100 500 | 590 | Compostable.
LID | Cup lids, 8 oz | pcs | 100 500 1000 | 390 |
BOX | Takeaway boxes | pcs | 50 200 | 890 |
NAP | Napkins | pcs | 100 500 | 290 |
FLT | Paper coffee filters | pcs | 100 500 | 390 |
STR | Paper straws | pcs | 100 500 | 290 |
CBG | Paper carrier bags | pcs | 50 250 | 690 |
MUG | Ceramic mug | pcs | 1 4 | 1490 | Hand-glazed, 300 ml.
KCP | Reusable cup | pcs | 1 | 1590 |
TOT | Canvas tote bag | pcs | 1 | 1290 |
"""

# The status a demo order is taken to once it is confirmed, the actions that take it there,
# and how often: most orders in a shop's history are done.
_PATHS: dict[Status, tuple[Action, ...]] = {
    "confirmed": (),
    "preparing": ("start",),
    "ready": ("start", "ready"),
    "completed": ("start", "ready", "complete"),
    "cancelled": ("cancel",),
}
_WEIGHTS = (3, 2, 2, 6, 1)
_CANCEL_REASONS = ("customer changed their mind", "not collected", "ordered twice by mistake")
_NOTES = ("No nuts, please.", "Pick-up at 12:30.", "Catering for twelve.", "Gift wrap, please.")


@dataclass(frozen=True)
class _Item:
    sku: str
    name: str
    price: int
    description: str | None


def _items() -> list[_Item]:
    items = []
    for row in _LINES.strip().splitlines():
        code, name, unit, sizes, price, description = (field.strip() for field in row.split("|"))
        amounts = [int(size) for size in sizes.split()]
        for amount in amounts:
            # Bigger packs cost less per unit; prices end in a round ten.
            scaled = 10 * round(int(price) * (amount / amounts[0]) ** 0.85 / 10)
            label = _size(amount, unit)
            items.append(_Item(f"{code}-{amount}", f"{name}{label}", scaled, description or None))
    return items


def _size(amount: int, unit: str) -> str:
    if unit == "pcs":
        return "" if amount == 1 else f", pack of {amount}"
    big = {"g": "kg", "ml": "l"}[unit]
    return f" {amount} {unit}" if amount < 1000 else f" {amount / 1000:g} {big}"


def _catalogue(count: int, currency: str, rng: random.Random) -> list[ProductCreate]:
    """`count` products: a mixed pick of the lines above, then numbered editions of them."""
    items = _items()
    picks = sorted(rng.sample(range(len(items)), min(count, len(items))))
    products = []
    for n in range(count):
        edition, index = (0, picks[n]) if n < len(picks) else divmod(n, len(items))
        item = items[index]
        products.append(
            ProductCreate(
                sku=item.sku + (f"-E{edition}" if edition else ""),
                name=item.name + (f", edition {edition + 1}" if edition else ""),
                description=item.description,
                price=Price(amount=item.price, currency=currency),
                active=n % 40 != 39,  # one in forty is discontinued: listed, no longer sold
            )
        )
    return products


async def is_empty(settings: Settings) -> bool:
    database = Database(settings)
    try:
        async with database.transaction(read_only=True) as session:
            products, _ = await catalog.list_products(
                session, q=None, active=None, cursor=None, limit=1
            )
            locations, _ = await inventory.list_locations(session, None, 1)
            orders, _ = await views.list_orders(
                session, status=None, location=None, customer_ref=None, cursor=None, limit=1
            )
    finally:
        await database.dispose()
    return not (products or locations or orders)


async def fill(settings: Settings, *, products: int = 200, orders: int = 40, seed: int = 7) -> None:
    """Build the demo shop in a database that `is_empty`; the same seed builds the same shop."""
    rng = random.Random(seed)  # noqa: S311 - a demo needs repeatability, not secrecy
    catalogue = _catalogue(products, settings.currency, rng)
    for_sale = [product.sku for product in catalogue if product.active]
    statuses: Counter[Status] = Counter()
    database = Database(settings)
    columns = (TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, TimeElapsedColumn()) as progress:
            stocking = progress.add_task("Products and stock", total=products)
            ordering = progress.add_task("Orders", total=orders)
            async with database.transaction() as session:
                for location in LOCATIONS:
                    await inventory.create_location(session, location)
            for start in range(0, products, BATCH):
                async with database.transaction() as session:
                    for product in catalogue[start : start + BATCH]:
                        await catalog.create_product(session, product, settings.currency, None)
                        await _receive(session, product.sku, rng)
                        progress.advance(stocking)
            for _ in range(orders if for_sale else 0):
                async with database.transaction() as session:
                    statuses[await _order(session, rng, for_sale, settings.currency)] += 1
                progress.advance(ordering)
        summary = ", ".join(f"{n} {status}" for status, n in statuses.most_common()) or "none"
        progress.console.print(f"Demo shop ready: {products} products; orders: {summary}.")
    finally:
        await database.dispose()


async def _receive(session: AsyncSession, sku: str, rng: random.Random) -> None:
    """Stock at each location; about one product in eight is sold out there, so orders wait."""
    for location, most in ((KITCHEN, 120), (SHOP, 40)):
        if rng.random() < 0.125:
            continue
        received = rng.randint(1, most)
        await inventory.adjust_stock(
            session, sku=sku, location=location, delta=received, reason="received", actor=ACTOR
        )
        if received > 5 and rng.random() < 0.1:
            await inventory.adjust_stock(
                session,
                sku=sku,
                location=location,
                delta=-rng.randint(1, 3),
                reason=rng.choice(("damaged", "count")),
                actor=ACTOR,
            )


async def _order(
    session: AsyncSession, rng: random.Random, skus: list[str], currency: str
) -> Status:
    """Place one order and move it along; returns the status it ends in."""
    picked = rng.sample(skus, min(len(skus), rng.choice((1, 1, 1, 2, 2, 3, 4))))
    request = OrderCreate(
        location=rng.choice((SHOP, SHOP, KITCHEN)),
        lines=[LineRequest(sku=sku, quantity=rng.choice((1, 1, 1, 2, 2, 3, 6))) for sku in picked],
        customer_ref=rng.choice(
            (None, f"C-{rng.randint(1000, 9999)}", f"table-{rng.randint(1, 24)}")
        ),
        note=rng.choice((None, None, None, *_NOTES)),
    )
    order = await place_order(session, request, currency=currency, actor=ACTOR)
    if order.status == "awaiting_stock":
        path: tuple[Action, ...] = ("cancel",) if rng.random() < 0.1 else ()
    else:
        path = rng.choices(list(_PATHS.values()), weights=_WEIGHTS)[0]
    for action in path:
        reason = rng.choice(_CANCEL_REASONS) if action == "cancel" else None
        order = await transition(session, order.id, action, actor=ACTOR, reason=reason)
    return order.status
