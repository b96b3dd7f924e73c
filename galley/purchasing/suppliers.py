"""Suppliers: who a product is bought from."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from galley.db import key_from, utcnow
from galley.errors import FieldError, InvalidRequest
from galley.http.paging import fetch_page
from galley.purchasing.errors import SupplierCurrencyInUse, SupplierNotFound
from galley.purchasing.models import PurchaseOrder, PurchaseOrderLine, Supplier
from galley.purchasing.schemas import SupplierCreate, SupplierOut, SupplierPatch


def view(supplier: Supplier) -> SupplierOut:
    return SupplierOut(
        id=str(supplier.id),
        name=supplier.name,
        email=supplier.email,
        webhook_url=supplier.webhook_url,
        lead_time_days=supplier.lead_time_days,
        currency=supplier.currency,
        auto_send=supplier.auto_send,
        created_at=supplier.created_at,
        updated_at=supplier.updated_at,
    )


async def create_supplier(session: AsyncSession, new: SupplierCreate) -> Supplier:
    now = utcnow()
    supplier = Supplier(**new.model_dump(), created_at=now, updated_at=now)
    session.add(supplier)
    await session.flush()
    return supplier


async def get_supplier(
    session: AsyncSession, supplier_id: str, *, for_update: bool = False
) -> Supplier:
    stmt = select(Supplier).where(Supplier.id == key_from(supplier_id))
    if for_update:
        stmt = stmt.with_for_update()
    supplier = (await session.execute(stmt)).scalar_one_or_none()
    if supplier is None:
        raise SupplierNotFound(supplier_id)
    return supplier


async def supplier_pk(session: AsyncSession, supplier_id: str | None, *, field: str) -> int | None:
    """The key of a supplier a request body names (None stays None); 422 when unknown."""
    if supplier_id is None:
        return None
    return (await get_supplier_for_body(session, supplier_id, field=field)).id


async def get_supplier_for_body(
    session: AsyncSession, supplier_id: str, *, field: str = "supplier"
) -> Supplier:
    """The supplier a request body names; 422 when there is none."""
    found = (
        await session.execute(select(Supplier).where(Supplier.id == key_from(supplier_id)))
    ).scalar_one_or_none()
    if found is None:
        raise InvalidRequest(
            f"There is no supplier {supplier_id}.",
            [FieldError(field=field, message="unknown supplier")],
        )
    return found


async def list_suppliers(
    session: AsyncSession, cursor: str | None, limit: int
) -> tuple[list[Supplier], str | None]:
    rows, next_cursor = await fetch_page(session, select(Supplier), Supplier.id, cursor, limit)
    return [row[0] for row in rows], next_cursor


async def update_supplier(
    session: AsyncSession, supplier: Supplier, patch: SupplierPatch
) -> Supplier:
    changes = patch.model_dump(include=patch.model_fields_set)
    # Unit costs are stored as amounts in the supplier's currency.
    if changes.get("currency", supplier.currency) != supplier.currency and await _has_costs(
        session, supplier.id
    ):
        raise SupplierCurrencyInUse(supplier.id, supplier.currency)
    for field, value in changes.items():
        setattr(supplier, field, value)
    supplier.updated_at = utcnow()
    await session.flush()
    return supplier


async def _has_costs(session: AsyncSession, supplier_id: int) -> bool:
    found = await session.execute(
        select(PurchaseOrderLine.id)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(PurchaseOrder.supplier_id == supplier_id, PurchaseOrderLine.unit_cost.is_not(None))
        .limit(1)
    )
    return found.first() is not None
