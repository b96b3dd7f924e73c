"""Paying for an order. The route records the payment in its transaction, asks the gateway
once that has committed, and answers what the gateway said, recorded in a transaction of
its own (`galley.payments.service`)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse

from galley.db import Database
from galley.errors import FieldError, InvalidRequest, MalformedRequest, NotFound, problem_responses
from galley.http import idempotency
from galley.http.deps import AppSettings, Keys
from galley.http.paging import Page
from galley.http.routing import GalleyRoute, OwnReplays, Session, after_the_transaction
from galley.identity.service import CurrentPrincipal, requires
from galley.orders import service as orders
from galley.orders.schemas import ORDER_ID_PATTERN
from galley.payments import sandbox
from galley.payments import service as payments
from galley.payments.errors import GatewayUnavailable
from galley.payments.gateway import Charge, Gateway, GatewayRefused, InvalidNotice
from galley.payments.schemas import PaymentCreate, PaymentOut

log = structlog.get_logger("galley.payments")

router = APIRouter(prefix="/v1/orders", tags=["payments"], route_class=GalleyRoute)
OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN, description="The order's `id`.")]


@router.post(
    "/{order_id}/payments",
    dependencies=[requires("orders:pay"), Depends(OwnReplays())],
    status_code=201,
    response_model=PaymentOut,
    responses={
        200: {"description": "The payment this key, or another request, asked for already"},
        **problem_responses(400, 404, 409, 413, 415, 422, 503),
    },
    summary="Pay for an order: a payment of what is left to pay, through the gateway",
)
async def create_payment(
    order_id: OrderId,
    body: PaymentCreate,
    session: Session,
    settings: AppSettings,
    principal: CurrentPrincipal,
    request: Request,
) -> Response:
    """The answer carries what a front end completes the payment with (`client_secret`:
    with Stripe, for its Payment Element). The same `Idempotency-Key` again answers the
    same payment as it stands; so does asking while the order's payment is pending. A
    customer pays their own orders only."""
    gateway: Gateway = request.app.state.gateway
    if gateway.name == sandbox.SandboxGateway.name and body.method not in (None, *sandbox.TOKENS):
        raise InvalidRequest(
            f"{body.method} is no sandbox test token.",
            [FieldError(field="method", message=f"one of {', '.join(sandbox.TOKENS)}")],
        )
    key = request.headers.get("idempotency-key")
    asked = payments.Request(request.app.state.caller_key(request), body.method)
    if key is not None:
        fingerprint = idempotency.fingerprint("POST", request.url.path, await request.body())
        asked = payments.Request(asked.by, asked.method, idempotency.validate_key(key), fingerprint)
    order = await orders.payable(session, order_id, lock=True, customer_id=principal.customer_id)
    payment, made = await payments.request_payment(session, order, asked, gateway=gateway.name)
    shown = payments.payment_view(payment, order.id, settings.sealing_keys)
    if asked.key is not None and not made and payment.request_key == asked.key:
        request.state.replayed = True
    if payment.gateway_ref is not None or payment.status != "pending":
        return _answer(request, shown, made)
    charge = payments.charge_of(payment, order.id)
    after_the_transaction(request, partial(_asked, request, charge, shown, made))
    return Response(status_code=201)  # `_asked` answers


async def _asked(request: Request, charge: Charge, asked: PaymentOut, made: bool) -> Response:
    """Once the payment is committed: the gateway asked, and its answer recorded in a
    transaction of its own; asked again with the same idempotency key, the gateway
    answers the same payment, so any request that meets it unanswered may ask."""
    database: Database = request.app.state.database
    keys = database.settings.sealing_keys
    gateway: Gateway = request.app.state.gateway
    try:
        answer = await gateway.create(charge)
    except GatewayRefused as exc:
        # Nothing was charged: the payment ends failed; another may be asked for.
        async with database.transaction() as session:
            refused = await payments.record_refusal(session, asked, str(exc), keys)
        return _answer(request, refused, made)
    except Exception:
        log.exception("payments.gateway_unavailable", gateway=gateway.name)
        raise GatewayUnavailable(gateway.name) from None
    async with database.transaction() as session:
        answered = await payments.record_answer(session, asked, answer, keys)
    return _answer(request, answered, made)


def _answer(request: Request, payment: PaymentOut, made: bool) -> Response:
    headers = {"Location": f"/v1/orders/{payment.order_id}/payments"}
    if getattr(request.state, "replayed", False):
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(
        payment.model_dump(mode="json"), status_code=201 if made else 200, headers=headers
    )


@router.get(
    "/{order_id}/payments",
    dependencies=[requires("orders:read")],
    response_model=Page[PaymentOut],
    responses=problem_responses(404, 422),
    summary="The payments of an order",
)
async def list_payments(
    order_id: OrderId, session: Session, keys: Keys, principal: CurrentPrincipal
) -> Page[PaymentOut]:
    order = await orders.payable(session, order_id, lock=False, customer_id=principal.customer_id)
    return Page(data=await payments.payments_of(session, order, keys), next_cursor=None)


webhooks = APIRouter(prefix="/v1/payments/webhooks", tags=["payments"], route_class=GalleyRoute)


@webhooks.post(
    "/{gateway_name}",
    status_code=200,
    responses=problem_responses(400, 404, 413, 415),
    summary="A payment gateway's webhook: its events, verified by their signature",
    openapi_extra={"security": []},
)
async def gateway_webhook(
    gateway_name: Annotated[str, Path(pattern=r"^[a-z]{1,20}$")],
    session: Session,
    request: Request,
) -> dict[str, str]:
    """No credentials: the gateway signs each event (`Stripe-Signature`, or the sandbox's
    Standard Webhooks headers), and one that does not verify, or is older than five
    minutes, is refused. An event acted on before changes nothing; one about a payment
    Galley does not hold is logged and answered 200, so that the gateway stops sending
    it."""
    gateway: Gateway = request.app.state.gateway
    if gateway_name != gateway.name:
        raise NotFound(f"Payments do not go through {gateway_name} here.")
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        notice = gateway.notice(await request.body(), headers)
    except InvalidNotice as exc:
        raise MalformedRequest(f"The event's signature does not verify: {exc}") from None
    outcome = await payments.apply_notice(session, gateway.name, notice)
    if outcome in ("unknown", "disagrees"):
        log.warning(
            f"payments.notice_{outcome}",
            gateway=gateway.name,
            event_id=notice.event_id,
            type=notice.type,
            payment_ref=notice.payment_ref,
        )
    return {"outcome": outcome}
