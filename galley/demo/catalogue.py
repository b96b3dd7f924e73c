"""What the demo shop sells and who it buys from: plain data, turned into requests."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from galley.catalog.schemas import ProductCreate, Replenishment
from galley.inventory.schemas import LocationCreate
from galley.money import Price
from galley.purchasing.schemas import SupplierCreate

KITCHEN, SHOP = "KITCHEN", "SHOP"
LOCATIONS = (
    LocationCreate(code=KITCHEN, name="Central kitchen"),
    LocationCreate(code=SHOP, name="Shop counter"),
)

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


@dataclass(frozen=True)
class _Supplier:
    name: str
    email: str | None
    lead_time_days: int
    auto_send: bool = False


# Each supplier by the kind of goods it sells. The roastery's drafts go out as soon as a
# shortfall lands on them (auto_send); the others wait for the buyer's morning round.
_SUPPLIERS = {
    "roastery": _Supplier(
        "Northbank Coffee Roasters", "orders@northbank-roasters.example", 2, True
    ),
    "bakery": _Supplier("Mill Lane Bakery", "wholesale@milllane-bakery.example", 1),
    "grocer": _Supplier("Harbour Fine Foods", "orders@harbour-finefoods.example", 2),
    "drinks": _Supplier("Riverside Drinks Distribution", None, 3),
    "packaging": _Supplier("Boxwell Packaging Wholesale", None, 7),
}
# The lines each supplier sells. Lines in none of them are cooked in the kitchen or bought
# now and then by hand (mugs, totes): nothing buys them, so their shortfalls stay unsourced.
_SOURCES = {
    "roastery": "ESP FIL DEC CLD GRT EGT CHM CHA MAT GRD CAP MCH HOT SYV SYC SYH",
    "bakery": "CRO PAC CIN BGL MUF CKI BRN CHC CAK BAN SCN PIZ RYE SOU BAG FOC",
    "grocer": "GRA YOG HUM OLV PES MOZ PAR CHE BUT CRM EGG SMN PRS AVO LMN BSL TOM CHK TAH "
    "PEA OIL VIN HON JAM SPG RIC FLR SUG SLT CHO ALM MLK OAT",
    "drinks": "LEM GNB JCE WAT KOM BEE CID WIN",
    "packaging": "CUP LID BOX NAP FLT STR CBG",
}
# Bought by the case: how much of the line's unit one case holds. A size is bought in the
# number of its packs that fill a case (cups: 20 packs of 50, 10 of 100, 2 of 500).
_CASES = {
    "CUP": 1000,
    "LID": 1000,
    "NAP": 2000,
    "FLT": 1000,
    "STR": 1000,
    "BOX": 200,
    "CBG": 250,
    "CRO": 12,
    "PAC": 12,
    "CIN": 12,
    "KOM": 24 * 330,
    "CID": 24 * 330,
    "WIN": 6 * 750,
}
# Everyday consumables kept in stock whether or not anyone waits: (reorder point, reorder
# quantity) of the line's smallest size, the one the counter goes through.
_REORDER = {"MLK": (12, 24), "OAT": (6, 12), "CUP": (10, 20), "LID": (10, 20), "EGG": (4, 8)}
# Never promised when sold out: the wine is a limited allocation, the matcha a seasonal harvest.
_NO_BACKORDER = {"WIN", "MAT"}


def suppliers(currency: str) -> dict[str, SupplierCreate]:
    """The shop's suppliers, by the kind of goods they sell."""
    return {
        kind: SupplierCreate(
            name=supplier.name,
            email=supplier.email,
            lead_time_days=supplier.lead_time_days,
            currency=currency,
            auto_send=supplier.auto_send,
        )
        for kind, supplier in _SUPPLIERS.items()
    }


@dataclass(frozen=True)
class _Item:
    code: str
    sku: str
    name: str
    price: int
    description: str | None
    replenishment: Replenishment


def _items() -> list[_Item]:
    items = []
    for row in _LINES.strip().splitlines():
        code, name, unit, sizes, price, description = (field.strip() for field in row.split("|"))
        amounts = [int(size) for size in sizes.split()]
        for amount in amounts:
            # Bigger packs cost less per unit; prices end in a round ten.
            scaled = 10 * round(int(price) * (amount / amounts[0]) ** 0.85 / 10)
            label = _size(amount, unit)
            items.append(
                _Item(
                    code,
                    f"{code}-{amount}",
                    f"{name}{label}",
                    scaled,
                    description or None,
                    _replenishment(code, amount, smallest=amount == amounts[0]),
                )
            )
    return items


def _size(amount: int, unit: str) -> str:
    if unit == "pcs":
        return "" if amount == 1 else f", pack of {amount}"
    big = {"g": "kg", "ml": "l"}[unit]
    return f" {amount} {unit}" if amount < 1000 else f" {amount / 1000:g} {big}"


def _replenishment(code: str, amount: int, *, smallest: bool) -> Replenishment:
    reorder_point, reorder_quantity = _REORDER.get(code, (None, None)) if smallest else (None, None)
    return Replenishment(
        allow_backorder=code not in _NO_BACKORDER,
        pack_size=max(1, _CASES.get(code, 0) // amount),
        reorder_point=reorder_point,
        reorder_quantity=reorder_quantity,
    )


def products(
    count: int, currency: str, rng: random.Random, supplier_ids: Mapping[str, int]
) -> list[ProductCreate]:
    """`count` products: a mixed pick of the lines above, then numbered editions of them.

    `supplier_ids` holds the key of each supplier by the kind of goods it sells.
    """
    source = {code: kind for kind, codes in _SOURCES.items() for code in codes.split()}
    items = _items()
    picks = sorted(rng.sample(range(len(items)), min(count, len(items))))
    catalogue = []
    for n in range(count):
        edition, index = (0, picks[n]) if n < len(picks) else divmod(n, len(items))
        item = items[index]
        kind = source.get(item.code)
        catalogue.append(
            ProductCreate(
                sku=item.sku + (f"-E{edition}" if edition else ""),
                name=item.name + (f", edition {edition + 1}" if edition else ""),
                description=item.description,
                price=Price(amount=item.price, currency=currency),
                active=n % 40 != 39,  # one in forty is discontinued: listed, no longer sold
                supplier=None if kind is None else str(supplier_ids[kind]),
                replenishment=item.replenishment,
            )
        )
    return catalogue
