from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from galley.errors import problem_responses
from galley.http.deps import AppSettings, Keys
from galley.http.etags import check_if_match, resource_response, shown_once_response
from galley.http.paging import Cursor, Limit, Page
from galley.http.routing import GalleyRoute, Session
from galley.identity.service import Actor, RequestOrigin, requires
from galley.inventory import service as inventory
from galley.inventory.schemas import CODE_PATTERN, StockLevelOut
from galley.orders.schemas import CancelRequest
from galley.purchasing import purchase_orders, replenishment, suppliers, views
from galley.purchasing import service as purchasing
from galley.purchasing.models import Supplier
from galley.purchasing.rules import POStatus
from galley.purchasing.schemas import (
    PlanItem,
    PurchaseOrderCreate,
    PurchaseOrderOut,
    PurchaseOrderPatch,
    ReceiptCreate,
    SupplierCreate,
    SupplierOut,
    SupplierPatch,
    SupplierWithSecret,
)
from galley.reactions import settled

supplier_router = APIRouter(prefix="/v1/suppliers", tags=["suppliers"], route_class=GalleyRoute)
po_router = APIRouter(
    prefix="/v1/purchase-orders", tags=["purchase orders"], route_class=GalleyRoute
)
plan_router = APIRouter(prefix="/v1/replenishment", tags=["replenishment"], route_class=GalleyRoute)

# Ids are opaque to clients: any id of this shape that names nothing is 404, like an unknown one.
IdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="The resource's `id`.")]
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified"}}


# ---- suppliers ---------------------------------------------------------------------------


def _with_secret(
    request: Request, supplier: Supplier, secret: str | None, **answer: Any
) -> Response:
    """The supplier as GET shows it, with its new signing secret if it was just given one."""
    shown = suppliers.view(supplier)
    with_secret = SupplierWithSecret(**shown.model_dump(), webhook_secret=secret)
    return shown_once_response(request, shown, with_secret, **answer)


@supplier_router.post(
    "",
    dependencies=[requires("suppliers:write")],
    status_code=201,
    response_model=SupplierWithSecret,
    responses=problem_responses(400, 413, 415, 422),
)
async def create_supplier(
    body: SupplierCreate, session: Session, settings: AppSettings, request: Request
) -> Response:
    """A `webhook_url` must be https (unless `GALLEY_WEBHOOKS_ALLOW_INSECURE`) and resolve
    only to public addresses (unless `GALLEY_WEBHOOKS_ALLOW_PRIVATE`); its signing secret
    is in the answer, this once."""
    supplier, secret = await suppliers.create_supplier(session, body, settings)
    return _with_secret(
        request,
        supplier,
        secret,
        status_code=201,
        headers={"Location": f"/v1/suppliers/{supplier.id}"},
    )


@supplier_router.get(
    "",
    dependencies=[requires("suppliers:read")],
    response_model=Page[SupplierOut],
    responses=problem_responses(422),
)
async def list_suppliers(
    session: Session, limit: Limit = 50, cursor: Cursor = None
) -> Page[SupplierOut]:
    found, next_cursor = await suppliers.list_suppliers(session, cursor, limit)
    return Page(data=[suppliers.view(s) for s in found], next_cursor=next_cursor)


@supplier_router.get(
    "/{supplier_id}",
    dependencies=[requires("suppliers:read")],
    response_model=SupplierOut,
    responses={**_NOT_MODIFIED, **problem_responses(404, 422)},
)
async def get_supplier(supplier_id: IdPath, session: Session, request: Request) -> Response:
    supplier = await suppliers.get_supplier(session, supplier_id)
    return resource_response(request, suppliers.view(supplier))


@supplier_router.patch(
    "/{supplier_id}",
    dependencies=[requires("suppliers:write")],
    response_model=SupplierWithSecret,
    responses=problem_responses(400, 404, 409, 412, 413, 415, 422),
)
async def update_supplier(
    supplier_id: IdPath,
    body: SupplierPatch,
    session: Session,
    settings: AppSettings,
    request: Request,
) -> Response:
    """A supplier given its first `webhook_url` gets a signing secret, in the answer."""
    supplier = await suppliers.get_supplier(session, supplier_id, for_update=True)
    check_if_match(request, suppliers.view(supplier))
    supplier, secret = await suppliers.update_supplier(session, supplier, body, settings)
    return _with_secret(request, supplier, secret)


@supplier_router.post(
    "/{supplier_id}/rotate-webhook-secret",
    dependencies=[requires("suppliers:write")],
    response_model=SupplierWithSecret,
    responses=problem_responses(404, 409, 422),
    summary="A new signing secret for the supplier's webhook, shown once; the old one "
    "signs too for 24 hours",
)
async def rotate_webhook_secret(
    supplier_id: IdPath, session: Session, keys: Keys, request: Request, origin: RequestOrigin
) -> Response:
    supplier = await suppliers.get_supplier(session, supplier_id, for_update=True)
    secret = await suppliers.rotate_webhook_secret(session, supplier, keys, origin)
    return _with_secret(request, supplier, secret)


# ---- purchase orders ---------------------------------------------------------------------


@po_router.get(
    "",
    dependencies=[requires("purchasing:read")],
    response_model=Page[PurchaseOrderOut],
    responses=problem_responses(422),
)
async def list_purchase_orders(
    session: Session,
    status: POStatus | None = None,
    supplier: str | None = Query(default=None, pattern=r"^[1-9][0-9]{0,17}$"),
    location: str | None = Query(default=None, pattern=CODE_PATTERN),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[PurchaseOrderOut]:
    found, next_cursor = await views.list_purchase_orders(
        session, status=status, supplier=supplier, location=location, cursor=cursor, limit=limit
    )
    return Page(data=found, next_cursor=next_cursor)


@po_router.post(
    "",
    dependencies=[requires("purchasing:write")],
    status_code=201,
    response_model=PurchaseOrderOut,
    responses={
        200: {"model": PurchaseOrderOut, "description": "Added to the open draft"},
        **problem_responses(400, 413, 415, 422),
    },
    summary="Buy by hand: the lines go onto the supplier's draft for the location",
)
async def create_purchase_order(
    body: PurchaseOrderCreate,
    session: Session,
    settings: AppSettings,
    actor: Actor,
    request: Request,
) -> Response:
    po_id, created = await settled(
        session,
        purchase_orders.add_by_hand(session, body, settings.purchasing_batch_window, actor=actor),
        settings,
    )
    (found,) = await views.current(session, [po_id])
    return resource_response(
        request,
        views.view(found),
        status_code=201 if created else 200,
        headers={"Location": f"/v1/purchase-orders/{po_id}"},
    )


@po_router.get(
    "/{po_id}",
    dependencies=[requires("purchasing:read")],
    response_model=PurchaseOrderOut,
    responses={**_NOT_MODIFIED, **problem_responses(404, 422)},
)
async def get_purchase_order(po_id: IdPath, session: Session, request: Request) -> Response:
    return resource_response(request, views.view(await views.load(session, po_id)))


@po_router.patch(
    "/{po_id}",
    dependencies=[requires("purchasing:write")],
    response_model=PurchaseOrderOut,
    responses=problem_responses(400, 404, 409, 412, 413, 415, 422),
    summary="Edit a draft's lines",
)
async def edit_purchase_order(
    po_id: IdPath,
    body: PurchaseOrderPatch,
    session: Session,
    settings: AppSettings,
    actor: Actor,
    request: Request,
) -> Response:
    edited_id = await settled(
        session,
        purchase_orders.edit_draft(
            session,
            po_id,
            body.lines,
            actor=actor,
            precondition=lambda found: check_if_match(request, views.view(found)),
        ),
        settings,
    )
    (edited,) = await views.current(session, [edited_id])
    return resource_response(request, views.view(edited))


@po_router.post(
    "/{po_id}/send",
    dependencies=[requires("purchasing:write")],
    response_model=PurchaseOrderOut,
    responses=problem_responses(404, 409, 422),
)
async def send_purchase_order(
    po_id: IdPath, session: Session, settings: AppSettings, actor: Actor
) -> PurchaseOrderOut:
    """`draft` → `sent`: frozen; later shortfalls collect on a new draft."""
    return views.view(
        await settled(session, purchase_orders.send(session, po_id, actor=actor), settings)
    )


@po_router.post(
    "/{po_id}/cancel",
    dependencies=[requires("purchasing:write")],
    response_model=PurchaseOrderOut,
    responses=problem_responses(400, 404, 409, 413, 415, 422),
)
async def cancel_purchase_order(
    po_id: IdPath,
    session: Session,
    settings: AppSettings,
    actor: Actor,
    body: CancelRequest | None = None,
) -> PurchaseOrderOut:
    """`draft` or `sent` → `cancelled`; what it was to bring is bought again at once."""
    reason = body.reason if body else None
    cancelled = purchase_orders.cancel(session, po_id, actor=actor, reason=reason)
    return views.view(await settled(session, cancelled, settings))


@po_router.post(
    "/{po_id}/receipts",
    dependencies=[requires("purchasing:write")],
    status_code=201,
    response_model=PurchaseOrderOut,
    responses=problem_responses(400, 404, 409, 413, 415, 422),
    summary="Goods arrived: stock rises and goes to waiting orders, oldest first",
)
async def receive_purchase_order(
    po_id: IdPath,
    body: ReceiptCreate,
    session: Session,
    settings: AppSettings,
    actor: Actor,
    request: Request,
) -> Response:
    received = await settled(
        session, purchasing.receive(session, po_id, body, actor=actor), settings
    )
    return resource_response(
        request,
        views.view(received),
        status_code=201,
        headers={"Location": f"/v1/purchase-orders/{po_id}"},
    )


# ---- replenishment -----------------------------------------------------------------------


@plan_router.get(
    "/plan",
    dependencies=[requires("purchasing:read")],
    response_model=Page[PlanItem],
    responses=problem_responses(422),
)
async def replenishment_plan(
    session: Session,
    where: inventory.StockFilters,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[PlanItem]:
    items, next_cursor = await replenishment.plan(
        session, sku=where.sku, location=where.location, cursor=cursor, limit=limit
    )
    return Page(data=items, next_cursor=next_cursor)


@plan_router.get(
    "/unsourced",
    dependencies=[requires("purchasing:read")],
    response_model=Page[StockLevelOut],
    responses=problem_responses(422),
    summary="Backorders of products without a supplier: nothing buys them",
)
async def unsourced(
    session: Session,
    where: inventory.StockFilters,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[StockLevelOut]:
    levels, next_cursor = await inventory.list_stock(
        session, sku=where.sku, location=where.location, cursor=cursor, limit=limit, unsourced=True
    )
    return Page(data=levels, next_cursor=next_cursor)
