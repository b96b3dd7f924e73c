"""Suppliers: who a product is bought from, and where their purchase orders go.

A supplier with a `webhook_url` has a signing secret of its own, given when the URL is
first set and shown that once; the URL is held to the same rules as a webhook endpoint's
(`galley.webhooks.service.check_url`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from galley.audit import service as audit
from galley.audit.service import Origin
from galley.config import Settings
from galley.db import insert_row, key_from, update_row, utcnow
from galley.errors import FieldError, InvalidRequest
from galley.http.paging import fetch_page
from galley.privacy.keys import DataKeys
from galley.purchasing.errors import (
    SupplierCurrencyInUse,
    SupplierHasNoWebhook,
    SupplierNotFound,
)
from galley.purchasing.models import PurchaseOrder, PurchaseOrderLine, Supplier
from galley.purchasing.schemas import SupplierCreate, SupplierOut, SupplierPatch
from galley.webhooks.service import SigningSecrets, check_url

SECRETS = SigningSecrets(
    "suppliers",
    current="webhook_secret",
    previous="previous_webhook_secret",
    previous_expires_at="previous_webhook_secret_expires_at",
)


def view(supplier: Supplier) -> SupplierOut:
    return SupplierOut(
        id=str(supplier.id),
        name=supplier.name,
        email=supplier.email,
        webhook_url=supplier.webhook_url,
        lead_time_days=supplier.lead_time_days,
        currency=supplier.currency,
        auto_send=supplier.auto_send,
        previous_webhook_secret_expires_at=supplier.previous_webhook_secret_expires_at,
        created_at=supplier.created_at,
        updated_at=supplier.updated_at,
    )


async def create_supplier(
    session: AsyncSession, new: SupplierCreate, settings: Settings
) -> tuple[Supplier, str | None]:
    """The supplier, and its signing secret when it has a webhook URL."""
    if new.webhook_url is not None:
        await check_url(new.webhook_url, settings)
    now = utcnow()
    keys = settings.sealing_keys
    secret, sealed = (None, {}) if new.webhook_url is None else SECRETS.give(keys)
    values = new.model_dump() | sealed | {"created_at": now, "updated_at": now}
    return await insert_row(session, Supplier, values), secret


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
    session: AsyncSession, supplier: Supplier, patch: SupplierPatch, settings: Settings
) -> tuple[Supplier, str | None]:
    """The supplier, and its new signing secret when it has just been given a webhook URL.
    Taking the URL away drops the secrets: a URL set later comes with a new one."""
    changes = patch.model_dump(include=patch.model_fields_set)
    # Unit costs are stored as amounts in the supplier's currency.
    if changes.get("currency", supplier.currency) != supplier.currency and await _has_costs(
        session, supplier.id
    ):
        raise SupplierCurrencyInUse(supplier.id, supplier.currency)
    url = changes.get("webhook_url", supplier.webhook_url)
    if url is not None and url != supplier.webhook_url:
        await check_url(url, settings)
    values = changes | {"updated_at": utcnow()}
    secret = None
    if url is None:
        values |= dict.fromkeys(
            ("webhook_secret", "previous_webhook_secret", "previous_webhook_secret_expires_at")
        )
    elif supplier.webhook_secret is None:
        secret, sealed = SECRETS.give(settings.sealing_keys)
        values |= sealed
    return await update_row(session, supplier, values), secret


async def rotate_webhook_secret(
    session: AsyncSession, supplier: Supplier, keys: DataKeys, origin: Origin
) -> str:
    """A new signing secret, shown once (`SigningSecrets.rotate`)."""
    if supplier.webhook_url is None or supplier.webhook_secret is None:
        raise SupplierHasNoWebhook(supplier.id)
    now = utcnow()
    secret, previous_valid_until, sealed = SECRETS.rotate(keys, supplier, now)
    await update_row(session, supplier, sealed | {"updated_at": now})
    audit.record(
        session,
        origin,
        "supplier.webhook_secret_rotated",
        subject=f"supplier:{supplier.id}",
        previous_valid_until=previous_valid_until.isoformat(),
    )
    return secret


async def _has_costs(session: AsyncSession, supplier_id: int) -> bool:
    found = await session.execute(
        select(PurchaseOrderLine.id)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(PurchaseOrder.supplier_id == supplier_id, PurchaseOrderLine.unit_cost.is_not(None))
        .limit(1)
    )
    return found.first() is not None
