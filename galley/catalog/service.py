"""Catalog use cases. They take the request's session and flush; the edge commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from galley.catalog.errors import DuplicateSku, ProductInUse, ProductNotFound
from galley.catalog.models import Product
from galley.catalog.schemas import ProductCreate, ProductOut, ProductPatch
from galley.db import insert_for, utcnow
from galley.http.paging import fetch_page
from galley.money import Money, require_currency


@dataclass(frozen=True)
class Sellable:
    """What an order needs to know of a product."""

    id: int
    sku: str
    price: int
    currency: str
    active: bool


def view(product: Product) -> ProductOut:
    return ProductOut(
        sku=product.sku,
        name=product.name,
        description=product.description,
        price=Money(amount=product.price_amount, currency=product.price_currency),
        active=product.active,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


async def create_product(session: AsyncSession, new: ProductCreate, currency: str) -> Product:
    require_currency(new.price, currency, "price")
    now = utcnow()
    table = Product.__table__
    product_id = (
        await session.execute(
            insert_for(session, table)
            .values(
                sku=new.sku,
                name=new.name,
                description=new.description,
                price_amount=new.price.amount,
                price_currency=new.price.currency,
                active=new.active,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["sku"])
            .returning(table.c.id)
        )
    ).scalar()
    if product_id is None:
        raise DuplicateSku(new.sku)
    return await session.get_one(Product, product_id)


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
    session: AsyncSession, product: Product, patch: ProductPatch, currency: str
) -> Product:
    changes = patch.model_dump(include=patch.model_fields_set)
    if "price" in changes:
        require_currency(patch.price, currency, "price")
        product.price_amount = patch.price.amount
        product.price_currency = patch.price.currency
    for field in ("name", "description", "active"):
        if field in changes:
            setattr(product, field, changes[field])
    product.updated_at = utcnow()
    await session.flush()
    return product


async def delete_product(session: AsyncSession, sku: str) -> None:
    product = await get_product(session, sku, for_update=True)
    try:
        async with session.begin_nested():
            await session.execute(delete(Product).where(Product.id == product.id))
    except IntegrityError:
        raise ProductInUse(sku) from None


_SELLABLES = select(
    Product.id, Product.sku, Product.price_amount, Product.price_currency, Product.active
).where(Product.sku.in_(bindparam("skus", expanding=True)))


async def sellables(session: AsyncSession, skus: Iterable[str]) -> dict[str, Sellable]:
    """The products with these SKUs, in one query; unknown SKUs are simply absent."""
    rows = (await session.execute(_SELLABLES, {"skus": list(skus)})).all()
    return {row.sku: Sellable(*row) for row in rows}
