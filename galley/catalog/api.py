from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from galley.catalog import service
from galley.catalog.errors import ProductNotFound
from galley.catalog.schemas import (
    SKU_PATTERN,
    TEXT_PATTERN,
    ProductCreate,
    ProductOut,
    ProductPatch,
)
from galley.errors import problem_responses
from galley.http.deps import AppSettings
from galley.http.etags import check_if_match, resource_response
from galley.http.paging import Cursor, Limit, Page
from galley.http.routing import GalleyRoute, Session
from galley.identity.service import Actor, CurrentPrincipal, requires
from galley.purchasing import service as purchasing
from galley.reactions import settled

router = APIRouter(prefix="/v1/products", tags=["products"], route_class=GalleyRoute)

# A SKU no product can have is refused before it reaches the database (PostgreSQL
# cannot even compare text holding a NUL character).
SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="The product's SKU.")]


@router.post(
    "",
    dependencies=[requires("catalog:write")],
    status_code=201,
    response_model=ProductOut,
    responses=problem_responses(400, 409, 413, 415, 422),
    summary="Add a product to the catalog",
)
async def create_product(
    body: ProductCreate, session: Session, settings: AppSettings, request: Request
) -> Response:
    supplier_id = await purchasing.supplier_pk(session, body.supplier, field="supplier")
    product = await service.create_product(session, body, settings.currency, supplier_id)
    return resource_response(
        request,
        service.view(product),
        status_code=201,
        headers={"Location": f"/v1/products/{product.sku}"},
    )


@router.get(
    "",
    dependencies=[requires("catalog:read", public=True)],
    response_model=Page[ProductOut],
    responses=problem_responses(422),
)
async def list_products(
    session: Session,
    principal: CurrentPrincipal,
    q: str | None = Query(
        default=None,
        max_length=200,
        pattern=TEXT_PATTERN,
        description="Case-insensitive part of the name or SKU.",
    ),
    active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ProductOut]:
    """Those who cannot edit the catalog see only what is for sale."""
    if not principal.may("catalog:write"):
        if active is False:
            return Page(data=[], next_cursor=None)
        active = True
    products, next_cursor = await service.list_products(
        session, q=q, active=active, cursor=cursor, limit=limit
    )
    return Page(data=[service.view(p) for p in products], next_cursor=next_cursor)


@router.get(
    "/{sku}",
    dependencies=[requires("catalog:read", public=True)],
    response_model=ProductOut,
    responses={304: {"description": "Not modified"}, **problem_responses(404, 422)},
)
async def get_product(
    sku: SkuPath, session: Session, principal: CurrentPrincipal, request: Request
) -> Response:
    product = await service.get_product(session, sku)
    if not product.active and not principal.may("catalog:write"):
        raise ProductNotFound(sku)
    return resource_response(request, service.view(product))


@router.patch(
    "/{sku}",
    dependencies=[requires("catalog:write")],
    response_model=ProductOut,
    responses=problem_responses(400, 404, 412, 413, 415, 422),
    summary="Change some fields of a product; send If-Match to avoid overwriting others",
)
async def update_product(
    sku: SkuPath,
    body: ProductPatch,
    session: Session,
    settings: AppSettings,
    actor: Actor,
    request: Request,
) -> Response:
    """A new supplier or new replenishment settings take effect at once: whatever waits
    uncovered is bought."""
    product = await service.get_product(session, sku, for_update=True)
    check_if_match(request, service.view(product))
    supplier_id = await purchasing.supplier_pk(session, body.supplier, field="supplier")
    product = await settled(
        session,
        service.update_product(session, product, body, settings.currency, supplier_id, actor),
    )
    return resource_response(request, service.view(product))


@router.delete(
    "/{sku}",
    dependencies=[requires("catalog:write")],
    status_code=204,
    responses=problem_responses(404, 409, 422),
    summary="Delete a product that was never ordered nor stocked",
)
async def delete_product(sku: SkuPath, session: Session) -> Response:
    await service.delete_product(session, sku)
    return Response(status_code=204)
