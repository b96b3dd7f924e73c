from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from galley.errors import problem_responses
from galley.http.deps import AppSettings, Keys
from galley.http.etags import check_if_match, resource_response, shown_once_response
from galley.http.paging import Cursor, Limit, Page
from galley.http.routing import GalleyRoute, Session
from galley.identity.service import RequestOrigin, requires
from galley.webhooks import service
from galley.webhooks.models import WebhookEndpoint
from galley.webhooks.schemas import (
    DeliveryStatus,
    WebhookDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointOut,
    WebhookEndpointPatch,
    WebhookEndpointWithSecret,
)

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"], route_class=GalleyRoute)

EndpointId = Annotated[str, Path(pattern=r"^[1-9][0-9]{0,17}$", examples=["7"])]
DeliveryId = Annotated[str, Path(pattern=r"^[1-9][0-9]{0,17}$", examples=["42"])]
MANAGE = requires("webhooks:manage")


@router.post(
    "",
    status_code=201,
    response_model=WebhookEndpointWithSecret,
    dependencies=[MANAGE],
    responses=problem_responses(400, 413, 415, 422),
    summary="Register an endpoint; its signing secret is shown once",
)
async def create_endpoint(
    body: WebhookEndpointCreate,
    session: Session,
    settings: AppSettings,
    origin: RequestOrigin,
    request: Request,
) -> Response:
    """The URL must be https (unless `GALLEY_WEBHOOKS_ALLOW_INSECURE`) and resolve only to
    public addresses (unless `GALLEY_WEBHOOKS_ALLOW_PRIVATE`); otherwise `422`."""
    endpoint, secret = await service.create_endpoint(session, body, settings, origin)
    return _with_secret(
        request,
        endpoint,
        secret,
        status_code=201,
        headers={"Location": f"/v1/webhook-endpoints/{endpoint.id}"},
    )


def _with_secret(
    request: Request, endpoint: WebhookEndpoint, secret: str, **answer: Any
) -> Response:
    """The endpoint as GET shows it, with its signing secret, this once."""
    shown = service.view(endpoint)
    with_secret = WebhookEndpointWithSecret(**shown.model_dump(), secret=secret)
    return shown_once_response(request, shown, with_secret, **answer)


@router.get(
    "",
    response_model=Page[WebhookEndpointOut],
    dependencies=[MANAGE],
    responses=problem_responses(422),
)
async def list_endpoints(
    session: Session,
    enabled: Annotated[bool | None, Query(description="Only enabled, or disabled, ones.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[WebhookEndpointOut]:
    found, next_cursor = await service.list_endpoints(
        session, enabled=enabled, cursor=cursor, limit=limit
    )
    return Page(data=[service.view(e) for e in found], next_cursor=next_cursor)


@router.get(
    "/{endpoint_id}",
    response_model=WebhookEndpointOut,
    dependencies=[MANAGE],
    responses={304: {"description": "Not modified"}, **problem_responses(404, 422)},
)
async def get_endpoint(endpoint_id: EndpointId, session: Session, request: Request) -> Response:
    return resource_response(
        request, service.view(await service.get_endpoint(session, endpoint_id))
    )


@router.patch(
    "/{endpoint_id}",
    response_model=WebhookEndpointOut,
    dependencies=[MANAGE],
    responses=problem_responses(400, 404, 412, 413, 415, 422),
    summary="Change, disable or enable an endpoint; send If-Match to avoid overwriting others",
)
async def update_endpoint(
    endpoint_id: EndpointId,
    body: WebhookEndpointPatch,
    session: Session,
    settings: AppSettings,
    origin: RequestOrigin,
    request: Request,
) -> Response:
    endpoint = await service.get_endpoint(session, endpoint_id, for_update=True)
    check_if_match(request, service.view(endpoint))
    endpoint = await service.update_endpoint(session, endpoint, body, settings, origin)
    return resource_response(request, service.view(endpoint))


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    dependencies=[MANAGE],
    responses=problem_responses(404, 422),
    summary="Delete an endpoint and its delivery log",
)
async def delete_endpoint(
    endpoint_id: EndpointId, session: Session, origin: RequestOrigin
) -> Response:
    await service.delete_endpoint(session, endpoint_id, origin)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpointWithSecret,
    dependencies=[MANAGE],
    responses=problem_responses(404, 422),
    summary="A new signing secret, shown once; the old one signs too for 24 hours",
)
async def rotate_secret(
    endpoint_id: EndpointId, session: Session, keys: Keys, origin: RequestOrigin, request: Request
) -> Response:
    endpoint = await service.get_endpoint(session, endpoint_id, for_update=True)
    endpoint, secret = await service.rotate_secret(session, endpoint, keys, origin)
    return _with_secret(request, endpoint, secret)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=Page[WebhookDeliveryOut],
    dependencies=[MANAGE],
    responses=problem_responses(404, 422),
    summary="The delivery log: each event sent to the endpoint, with every attempt",
)
async def list_deliveries(
    endpoint_id: EndpointId,
    session: Session,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[WebhookDeliveryOut]:
    endpoint = await service.get_endpoint(session, endpoint_id)
    found, next_cursor = await service.list_deliveries(
        session, endpoint, status=status, cursor=cursor, limit=limit
    )
    return Page(data=found, next_cursor=next_cursor)


@router.get(
    "/{endpoint_id}/deliveries/{delivery_id}",
    response_model=WebhookDeliveryOut,
    dependencies=[MANAGE],
    responses={304: {"description": "Not modified"}, **problem_responses(404, 422)},
)
async def get_delivery(
    endpoint_id: EndpointId, delivery_id: DeliveryId, session: Session, request: Request
) -> Response:
    endpoint = await service.get_endpoint(session, endpoint_id)
    return resource_response(request, await service.get_delivery(session, endpoint, delivery_id))


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=201,
    response_model=WebhookDeliveryOut,
    dependencies=[MANAGE],
    responses=problem_responses(404, 409, 422),
    summary="Send a delivery's event again, as a new delivery",
)
async def redeliver(
    endpoint_id: EndpointId, delivery_id: DeliveryId, session: Session, request: Request
) -> Response:
    """The new delivery goes behind the endpoint's pending ones; `409` while the endpoint
    is disabled."""
    endpoint = await service.get_endpoint(session, endpoint_id)
    again = await service.redeliver(session, endpoint, delivery_id)
    return resource_response(
        request,
        again,
        status_code=201,
        headers={"Location": f"/v1/webhook-endpoints/{endpoint.id}/deliveries/{again.id}"},
    )
