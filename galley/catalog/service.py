"""Catalog use cases. They take the request's session and write by statement; the edge commits."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, TypeVar, cast

from pydantic import ValidationError
from sqlalchemy import Select, Table, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from galley.catalog.errors import DuplicateSku, ProductInUse, ProductNotFound
from galley.catalog.models import Product
from galley.catalog.rules import Sellable as Sellable
from galley.catalog.schemas import ProductCreate, ProductOut, ProductPatch, Replenishment
from galley.changes import Announced, Change, SourcingChanged
from galley.db import insert_for, key_from, update_row, utcnow, violates_foreign_key
from galley.errors import FieldError, InvalidRequest
from galley.events import service as events
from galley.http.paging import fetch_page
from galley.money import Money, require_currency

# The products table, for other areas to join in what they read (never to write).
PRODUCTS = cast(Table, Product.__table__)

_REPLENISHMENT_FIELDS = tuple(Replenishment.model_fields)
_T = TypeVar("_T")


def view(product: Product) -> ProductOut:
    return ProductOut(
        sku=product.sku,
        name=product.name,
        description=product.description,
        price=Money(amount=product.price_amount, currency=product.price_currency),
        active=product.active,
        supplier=None if product.supplier_id is None else str(product.supplier_id),
        replenishment=Replenishment.model_validate(
            {field: getattr(product, field) for field in _REPLENISHMENT_FIELDS}
        ),
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


async def create_product(session: AsyncSession, new: ProductCreate, currency: str) -> Product:
    """Add a product; the supplier it names, if any, must exist (422 otherwise)."""
    require_currency(new.price, currency, "price")
    now = utcnow()
    product = (
        await _naming_a_supplier(
            new.supplier,
            session.execute(
                insert_for(session, Product)
                .values(
                    sku=new.sku,
                    name=new.name,
                    description=new.description,
                    price_amount=new.price.amount,
                    price_currency=new.price.currency,
                    active=new.active,
                    supplier_id=_supplier_key(new.supplier),
                    **new.replenishment.model_dump(),
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["sku"])
                .returning(Product)
            ),
        )
    ).scalar()
    if product is None:
        raise DuplicateSku(new.sku)
    events.record(session, "product.created", view(product))
    return product


async def get_product(session: AsyncSession, sku: str, *, for_update: bool = False) -> Product:
    stmt = select(Product).where(Product.sku == sku)
    if for_update:
        stmt = stmt.with_for_update()
    product = (await session.execute(stmt)).scalar_one_or_none()
    if product is None:
        raise ProductNotFound(sku)
    return product


async def list_products(
    session: AsyncSession, *, q: str | None, active: bool | None, cursor: str | None, limit: int
) -> tuple[list[Product], str | None]:
    stmt: Select[tuple[Product]] = select(Product)
    if q:
        needle = q.lower()
        stmt = stmt.where(
            Product.name.ilike(f"%{_escape_like(needle)}%", escape="\\")
            | Product.sku.ilike(f"%{_escape_like(needle)}%", escape="\\")
        )
    if active is not None:
        stmt = stmt.where(Product.active.is_(active))
    rows, next_cursor = await fetch_page(session, stmt, Product.id, cursor, limit)
    return [row[0] for row in rows], next_cursor


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def update_product(
    session: AsyncSession,
    product: Product,
    patch: ProductPatch,
    currency: str,
    actor: str,
) -> tuple[Product, list[Change]]:
    """Apply the fields sent; a supplier named must exist (422 otherwise).

    A new supplier or new replenishment settings take effect at once (`SourcingChanged`).
    """
    changes = patch.model_dump(include=patch.model_fields_set)
    values: dict[str, object] = {
        field: changes[field] for field in ("name", "description", "active") if field in changes
    }
    if "supplier" in changes:
        values["supplier_id"] = _supplier_key(patch.supplier)
    if "replenishment" in changes:
        values |= _replenishment(product, patch)
    if "price" in changes:
        require_currency(patch.price, currency, "price")
        values |= {"price_amount": patch.price.amount, "price_currency": patch.price.currency}
    product = await _naming_a_supplier(
        patch.supplier, update_row(session, product, values | {"updated_at": utcnow()})
    )
    changed: list[Change] = [Announced("product.updated", [view(product)])]
    if patch.model_fields_set & {"supplier", "replenishment"}:
        changed.append(SourcingChanged(product.id, actor))
    return product, changed


def _supplier_key(given: str | None) -> int | None:
    return None if given is None else key_from(given)


async def _naming_a_supplier(supplier: str | None, write: Awaitable[_T]) -> _T:
    """The write's result; a supplier it names that does not exist is a 422, found by the
    foreign key (purchasing keeps suppliers; the catalog only points at one)."""
    try:
        return await write
    except IntegrityError as exc:
        if not violates_foreign_key(exc):
            raise
        raise InvalidRequest(
            f"There is no supplier {supplier}.",
            [FieldError(field="supplier", message="unknown supplier")],
        ) from None


def _replenishment(product: Product, patch: ProductPatch) -> dict[str, object]:
    """The product's replenishment settings with the fields sent, checked together."""
    sent = patch.replenishment.model_dump(include=patch.replenishment.model_fields_set)
    merged = {field: getattr(product, field) for field in _REPLENISHMENT_FIELDS} | sent
    try:
        settings = Replenishment.model_validate(merged)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise InvalidRequest(
            f"replenishment: {message}", [FieldError(field="replenishment", message=message)]
        ) from None
    return settings.model_dump()


async def delete_product(session: AsyncSession, sku: str) -> None:
    product = await get_product(session, sku, for_update=True)
    try:
        async with session.begin_nested():
            await session.execute(delete(Product).where(Product.id == product.id))
    except IntegrityError:
        raise ProductInUse(sku) from None


# What a `Sellable` is read from; another area's read may carry them (`sellable_of`).
SELLABLE_COLUMNS = (
    PRODUCTS.c.id,
    PRODUCTS.c.sku,
    PRODUCTS.c.price_amount,
    PRODUCTS.c.price_currency,
    PRODUCTS.c.active,
    PRODUCTS.c.supplier_id,
    PRODUCTS.c.allow_backorder,
    PRODUCTS.c.margin_pct,
    PRODUCTS.c.reorder_point,
    PRODUCTS.c.reorder_quantity,
    PRODUCTS.c.pack_size,
)
_SELLABLE = select(*SELLABLE_COLUMNS)
_BY_SKU = _SELLABLE.where(Product.sku.in_(bindparam("keys", expanding=True)))
_BY_ID = _SELLABLE.where(Product.id.in_(bindparam("keys", expanding=True)))


async def sellables(session: AsyncSession, skus: Iterable[str]) -> dict[str, Sellable]:
    """The products with these SKUs, in one query; unknown SKUs are simply absent."""
    rows = (await session.execute(_BY_SKU, {"keys": list(skus)})).all()
    return {row.sku: sellable_of(row) for row in rows}


def sellable_of(row: Sequence[Any]) -> Sellable:
    """The product of a row that begins with `SELLABLE_COLUMNS`."""
    return Sellable(*row[: len(SELLABLE_COLUMNS)])


async def sellables_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Sellable]:
    rows = (await session.execute(_BY_ID, {"keys": list(ids)})).all()
    return {row.id: sellable_of(row) for row in rows}
