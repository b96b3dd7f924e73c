from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from galley.catalog.schemas import TEXT_PATTERN
from galley.config import Settings
from galley.errors import problem_responses
from galley.http.deps import AppSettings, Keys
from galley.http.etags import resource_response
from galley.http.paging import Cursor, Limit, Page
from galley.http.routing import GalleyRoute, Session
from galley.http.throttle import AppThrottle
from galley.identity.service import Actor, CurrentPrincipal, requires
from galley.inventory import service as inventory
from galley.inventory.schemas import CODE_PATTERN
from galley.orders import service as orders
from galley.orders import views
from galley.orders.fulfilment import FulfilmentFeed
from galley.orders.rules import Action, Status
from galley.orders.schemas import (
    ORDER_ID_PATTERN,
    CancelRequest,
    OrderCreate,
    OrderEventOut,
    OrderOut,
)
from galley.reactions import settled

router = APIRouter(prefix="/v1/orders", tags=["orders"], route_class=GalleyRoute)
OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN, description="The order's `id`.")]

_TRANSITION_ERRORS = problem_responses(404, 409, 422)


@router.post(
    "",
    dependencies=[requires("orders:place")],
    status_code=201,
    response_model=OrderOut,
    responses=problem_responses(400, 409, 413, 415, 422),
    summary="Place an order: allocate what is in stock, backorder the rest",
)
async def create_order(
    body: OrderCreate,
    session: Session,
    settings: AppSettings,
    principal: CurrentPrincipal,
    request: Request,
    throttle: AppThrottle,
) -> Response:
    """A customer's order is theirs: the customer comes from the token, never the body.
    A customer places a limited number of orders a minute (`GALLEY_RATE_LIMIT_ORDERS`);
    staff and integrations are not held to it."""
    if principal.customer_id is not None:
        await throttle.spend_order(principal.customer_id)
    order = await settled(
        session,
        orders.place_order(
            session,
            body,
            settings.sealing_keys,
            currency=settings.currency,
            actor=principal.actor,
            customer_id=principal.customer_id,
        ),
        settings,
    )
    return resource_response(
        request, order, status_code=201, headers={"Location": f"/v1/orders/{order.id}"}
    )


@router.get(
    "",
    dependencies=[requires("orders:read")],
    response_model=Page[OrderOut],
    responses=problem_responses(422),
)
async def list_orders(
    session: Session,
    keys: Keys,
    principal: CurrentPrincipal,
    status: Status | None = None,
    location: str | None = Query(default=None, pattern=CODE_PATTERN),
    customer_ref: str | None = Query(default=None, max_length=100, pattern=TEXT_PATTERN),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[OrderOut]:
    orders, next_cursor = await views.list_orders(
        session,
        keys,
        status=status,
        location=location,
        customer_ref=customer_ref,
        cursor=cursor,
        limit=limit,
        customer_id=principal.customer_id,
    )
    return Page(data=orders, next_cursor=next_cursor)


@router.get(
    "/{order_id}",
    dependencies=[requires("orders:read")],
    response_model=OrderOut,
    responses={304: {"description": "Not modified"}, **problem_responses(404, 422)},
)
async def get_order(
    order_id: OrderId, session: Session, keys: Keys, principal: CurrentPrincipal, request: Request
) -> Response:
    order = await views.get_order(session, order_id, keys, customer_id=principal.customer_id)
    return resource_response(request, order)


@router.get(
    "/{order_id}/events",
    dependencies=[requires("orders:read")],
    response_model=Page[OrderEventOut],
    responses=problem_responses(404, 422),
    summary="The order's history: every status change and allocation",
)
async def list_order_events(
    order_id: OrderId,
    session: Session,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[OrderEventOut]:
    events, next_cursor = await views.list_events(
        session, order_id, cursor, limit, customer_id=principal.customer_id
    )
    return Page(data=events, next_cursor=next_cursor)


async def _move(
    session: Session, settings: Settings, order_id: str, action: Action, actor: str
) -> OrderOut:
    keys = settings.sealing_keys
    return await settled(
        session, orders.transition(session, order_id, action, keys, actor=actor), settings
    )


@router.post(
    "/{order_id}/start",
    dependencies=[requires("orders:prepare")],
    response_model=OrderOut,
    responses=_TRANSITION_ERRORS,
)
async def start_order(
    order_id: OrderId, session: Session, settings: AppSettings, actor: Actor
) -> OrderOut:
    """`confirmed` → `preparing`."""
    return await _move(session, settings, order_id, "start", actor)


@router.post(
    "/{order_id}/ready",
    dependencies=[requires("orders:prepare")],
    response_model=OrderOut,
    responses=_TRANSITION_ERRORS,
)
async def mark_ready(
    order_id: OrderId, session: Session, settings: AppSettings, actor: Actor
) -> OrderOut:
    """`preparing` → `ready`."""
    return await _move(session, settings, order_id, "ready", actor)


@router.post(
    "/{order_id}/complete",
    dependencies=[requires("orders:prepare")],
    response_model=OrderOut,
    responses=_TRANSITION_ERRORS,
)
async def complete_order(
    order_id: OrderId, session: Session, settings: AppSettings, actor: Actor
) -> OrderOut:
    """`ready` → `completed`; the reserved stock leaves the location."""
    return await _move(session, settings, order_id, "complete", actor)


@router.post(
    "/{order_id}/cancel",
    dependencies=[requires("orders:cancel")],
    response_model=OrderOut,
    responses=problem_responses(400, 404, 409, 413, 415, 422),
)
async def cancel_order(
    order_id: OrderId,
    session: Session,
    settings: AppSettings,
    principal: CurrentPrincipal,
    body: CancelRequest | None = None,
) -> OrderOut:
    """Any open state → `cancelled` (a customer's own order: until preparation starts);
    reserved stock is released."""
    return await settled(
        session,
        orders.transition(
            session,
            order_id,
            "cancel",
            settings.sealing_keys,
            actor=principal.actor,
            reason=body.reason if body else None,
            customer_id=principal.customer_id,
        ),
        settings,
    )


fulfilment = APIRouter(prefix="/v1/fulfilment", tags=["fulfilment"], route_class=GalleyRoute)


@fulfilment.get(
    "/stream",
    dependencies=[requires("orders:prepare")],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events: `queue` first, then `order.*` changes.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(404, 422),
    },
    summary="The live fulfilment queue of a location (Server-Sent Events)",
)
async def fulfilment_stream(
    location: Annotated[str, Query(pattern=CODE_PATTERN, examples=["KITCHEN"])],
    request: Request,
    session: Session,
    settings: AppSettings,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            pattern=r"^[0-9]{1,18}$",
            description="The `id` of the last message received: resume right after it.",
        ),
    ] = None,
) -> StreamingResponse:
    """On connecting, the orders `confirmed`, `preparing` and `ready` at the location,
    oldest first (event `queue`); then each change of its orders as it happens. Every
    message has an `id`; reconnect with `Last-Event-ID` to receive exactly what you missed.
    A comment line every `GALLEY_STREAM_HEARTBEAT_SECONDS` keeps proxies from closing it."""
    await inventory.get_location(session, location)
    feed: FulfilmentFeed = request.app.state.fulfilment
    messages = feed.stream(
        location,
        None if last_event_id is None else int(last_event_id),
        settings.stream_heartbeat_seconds,
    )
    return StreamingResponse(
        messages,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
