from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from galley.catalog import service
from galley.catalog.cache import CatalogCache
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
from galley.http.etags import Tagged, check_if_match, resource_response, tagged_response
from galley.http.paging import Cursor, Limit, Page
from galley.http.routing import GalleyRoute, Session
from galley.identity.service import Actor, CurrentPrincipal, Principal, requires
from galley.reactions import settled

router = APIRouter(prefix="/v1/products", tags=["products"], route_class=GalleyRoute)

# A SKU no product can have is refused before it reaches the database (PostgreSQL
# cannot even compare text holding a NUL character).
SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="The product's SKU.")]


async def _catalog_cache(request: Request) -> CatalogCache:
    cache: CatalogCache = request.app.state.catalog_cache
    return cache


Cache = Annotated[CatalogCache, Depends(_catalog_cache)]
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: `If-None-Match` holds the current ETag"}
}


def _editor(principal: Principal) -> bool:
    """Whether the caller sees inactive products too: reads are cached apart by this."""
    return principal.may("catalog:write")


def _caching(request: Request, editor: bool) -> dict[str, str]:
    """What is for sale is the same for every shopper: with a public catalog any cache may
    keep it for the staleness bound (a shared cache adds at most that much); without one,
    only the caller's own. What an editor sees includes products not for sale, so it is
    kept by no cache, like every other per-caller answer. `Vary` keeps a shared cache from
    answering an editor with the shoppers' copy."""
    settings = request.app.state.settings
    if editor:
        policy = "no-store"
    else:
        shared = "public" if settings.public_catalog else "private"
        policy = f"{shared}, max-age={settings.cache_max_staleness_ms // 1000}"
    return {"Cache-Control": policy, "Vary": "Authorization"}


@router.post(
    "",
    dependencies=[requires("catalog:write")],
    status_code=201,
    response_model=ProductOut,
    responses=problem_responses(400, 409, 413, 415, 422),
    summary="Add a product to the catalog",
)
async def create_product(
    body: ProductCreate, session: Session, settings: AppSettings, cache: Cache, request: Request
) -> Response:
    product = await service.create_product(session, body, settings.currency)
    cache.forget_after_commit(session)
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
    responses={**_NOT_MODIFIED, **problem_responses(422)},
)
async def list_products(
    session: Session,
    principal: CurrentPrincipal,
    cache: Cache,
    request: Request,
    q: str | None = Query(
        default=None,
        max_length=200,
        pattern=TEXT_PATTERN,
        description="Case-insensitive part of the name or SKU.",
    ),
    active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Those who cannot edit the catalog see only what is for sale."""
    editor = _editor(principal)
    if not editor:
        if active is False:
            empty = Tagged.of(Page[ProductOut](data=[], next_cursor=None))
            return tagged_response(request, empty, headers=_caching(request, editor))
        active = True

    async def page() -> Tagged:
        products, next_cursor = await service.list_products(
            session, q=q, active=active, cursor=cursor, limit=limit
        )
        return Tagged.of(Page(data=[service.view(p) for p in products], next_cursor=next_cursor))

    found = await cache.read(json.dumps(["page", editor, q, active, limit, cursor]), page)
    return tagged_response(request, found, headers=_caching(request, editor))


@router.get(
    "/{sku}",
    dependencies=[requires("catalog:read", public=True)],
    response_model=ProductOut,
    responses={**_NOT_MODIFIED, **problem_responses(404, 422)},
)
async def get_product(
    sku: SkuPath, session: Session, principal: CurrentPrincipal, cache: Cache, request: Request
) -> Response:
    editor = _editor(principal)

    async def visible() -> Tagged:
        product = await service.get_product(session, sku)
        if not product.active and not editor:
            raise ProductNotFound(sku)
        return Tagged.of(service.view(product))

    found = await cache.read(json.dumps(["product", editor, sku]), visible)
    return tagged_response(request, found, headers=_caching(request, editor))


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
    cache: Cache,
    request: Request,
) -> Response:
    """A new supplier or new replenishment settings take effect at once: whatever waits
    uncovered is bought."""
    product = await service.get_product(session, sku, for_update=True)
    check_if_match(request, service.view(product))
    product = await settled(
        session,
        service.update_product(session, product, body, settings.currency, actor),
        settings,
    )
    cache.forget_after_commit(session)
    return resource_response(request, service.view(product))


@router.delete(
    "/{sku}",
    dependencies=[requires("catalog:write")],
    status_code=204,
    responses=problem_responses(404, 409, 422),
    summary="Delete a product that was never ordered nor stocked",
)
async def delete_product(sku: SkuPath, session: Session, cache: Cache) -> Response:
    await service.delete_product(session, sku)
    cache.forget_after_commit(session)
    return Response(status_code=204)
