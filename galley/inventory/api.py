from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from galley.errors import problem_responses
from galley.http.deps import AppSettings
from galley.http.etags import resource_response
from galley.http.paging import Cursor, Limit, Page
from galley.http.routing import GalleyRoute, Session
from galley.identity.service import Actor, requires
from galley.inventory import service
from galley.inventory.filters import StockFilters
from galley.inventory.schemas import (
    CODE_PATTERN,
    AdjustmentCreate,
    AdjustmentOut,
    LedgerEntryOut,
    LocationCreate,
    LocationOut,
    StockLevelOut,
)
from galley.reactions import settled

locations = APIRouter(prefix="/v1/locations", tags=["locations"], route_class=GalleyRoute)
stock = APIRouter(prefix="/v1/stock", tags=["stock"], route_class=GalleyRoute)

# A code no location can have is refused before it reaches the database.
CodePath = Annotated[str, Path(pattern=CODE_PATTERN, description="The location's code.")]


def _location_view(location: object) -> LocationOut:
    return LocationOut.model_validate(location, from_attributes=True)


@locations.post(
    "",
    dependencies=[requires("locations:write")],
    status_code=201,
    response_model=LocationOut,
    responses=problem_responses(400, 409, 413, 415, 422),
)
async def create_location(body: LocationCreate, session: Session, request: Request) -> Response:
    location = await service.create_location(session, body)
    return resource_response(
        request,
        _location_view(location),
        status_code=201,
        headers={"Location": f"/v1/locations/{location.code}"},
    )


@locations.get(
    "",
    dependencies=[requires("locations:read")],
    response_model=Page[LocationOut],
    responses=problem_responses(422),
)
async def list_locations(
    session: Session, limit: Limit = 50, cursor: Cursor = None
) -> Page[LocationOut]:
    rows, next_cursor = await service.list_locations(session, cursor, limit)
    return Page(data=[_location_view(r) for r in rows], next_cursor=next_cursor)


@locations.get(
    "/{code}",
    dependencies=[requires("locations:read")],
    response_model=LocationOut,
    responses={304: {"description": "Not modified"}, **problem_responses(404, 422)},
)
async def get_location(code: CodePath, session: Session, request: Request) -> Response:
    return resource_response(request, _location_view(await service.get_location(session, code)))


@stock.get(
    "",
    dependencies=[requires("stock:read")],
    response_model=Page[StockLevelOut],
    responses=problem_responses(422),
)
async def list_stock(
    session: Session,
    where: StockFilters,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[StockLevelOut]:
    levels, next_cursor = await service.list_stock(
        session, sku=where.sku, location=where.location, cursor=cursor, limit=limit
    )
    return Page(data=levels, next_cursor=next_cursor)


@stock.post(
    "/adjustments",
    dependencies=[requires("stock:adjust")],
    status_code=201,
    response_model=AdjustmentOut,
    responses=problem_responses(400, 409, 413, 415, 422),
    summary="Change on-hand stock, with a ledger entry",
)
async def adjust_stock(
    body: AdjustmentCreate, session: Session, settings: AppSettings, actor: Actor, request: Request
) -> Response:
    """Stock that becomes free goes to waiting orders first; stock that drops below a
    reorder point is bought."""
    adjusted = await settled(
        session,
        service.adjust_stock(
            session,
            sku=body.sku,
            location=body.location,
            delta=body.delta,
            reason=body.reason,
            actor=actor,
        ),
        settings,
    )
    return resource_response(
        request,
        await service.adjustment(session, adjusted),
        status_code=201,
        headers={"Location": f"/v1/stock/ledger/{adjusted.entry.id}"},
    )


@stock.get(
    "/ledger",
    dependencies=[requires("stock:read")],
    response_model=Page[LedgerEntryOut],
    responses=problem_responses(422),
)
async def list_ledger(
    session: Session,
    where: StockFilters,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[LedgerEntryOut]:
    entries, next_cursor = await service.list_ledger(
        session, sku=where.sku, location=where.location, cursor=cursor, limit=limit
    )
    return Page(data=entries, next_cursor=next_cursor)


@stock.get(
    "/ledger/{entry_id}",
    dependencies=[requires("stock:read")],
    response_model=LedgerEntryOut,
    responses={304: {"description": "Not modified"}, **problem_responses(404, 422)},
)
async def get_ledger_entry(
    entry_id: Annotated[int, Path(ge=1, le=2**63 - 1)], session: Session, request: Request
) -> Response:
    return resource_response(request, await service.get_ledger_entry(session, entry_id))
