"""What the routes (and, later, the worker) call on payments.

Taking a payment is three steps, never one: the payment is recorded under the order's
row lock and committed (`request_payment`); the gateway is asked, outside any
transaction; its answer is recorded in a transaction of its own (`record_answer`). A
process that dies between them leaves a pending payment without a `gateway_ref`, which
asking again completes with the same idempotency key at the gateway.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from galley.db import insert_for, insert_row, update_row, utcnow
from galley.money import Money
from galley.orders.service import Payable
from galley.payments import rules
from galley.payments.errors import OrderNotPayable, OrderPaidFor, PaymentKeyReused
from galley.payments.gateway import Charge, GatewayPayment, Notice
from galley.payments.models import GatewayNotice, Payment, Refund
from galley.payments.schemas import PaymentOut
from galley.privacy.keys import DataKeys

# The sealed column's name, bound into its seal.
SEALED_AS = "payments.client_secret"


@dataclass(frozen=True)
class Request:
    """Who asks for a payment, how, and with which Idempotency-Key and body fingerprint."""

    by: str
    method: str | None
    key: str | None = None
    fingerprint: str | None = None


async def request_payment(
    session: AsyncSession,
    order: Payable,
    asked: Request,
    *,
    gateway: str,
    capture: str = "automatic",
) -> tuple[Payment, bool]:
    """The payment that takes what is left to pay of `order` (its row locked by the
    caller), and whether it is new: the one this request's key asked for before, or the
    order's pending one, or a new one. An order with nothing left to pay is refused."""
    if asked.key is not None:
        before = (
            await session.execute(
                select(Payment).where(
                    Payment.requested_by == asked.by, Payment.request_key == asked.key
                )
            )
        ).scalar_one_or_none()
        if before is not None:
            if before.request_print != asked.fingerprint:
                raise PaymentKeyReused()
            return before, False
    if order.status == "cancelled":
        raise OrderNotPayable(order.id, order.status)
    payments = list(
        (await session.execute(select(Payment).where(Payment.order_number == order.number)))
        .scalars()
        .all()
    )
    for payment in payments:
        if payment.status == "pending":
            return payment, False  # asked again while one is on its way: that one
    refunded = await _refunded(session, [p.number for p in payments])
    figures = rules.paid(order.total, [(p.status, p.amount) for p in payments], refunded)  # type: ignore[misc]
    if figures.balance == 0:
        raise OrderPaidFor(order.id)
    now = utcnow()
    made = await insert_row(
        session,
        Payment,
        {
            "id": str(uuid.uuid4()),
            "order_number": order.number,
            "gateway": gateway,
            "status": "pending",
            "amount": figures.balance,
            "currency": order.currency,
            "capture": capture,
            "method": asked.method,
            "requested_by": asked.by,
            "request_key": asked.key,
            "request_print": asked.fingerprint,
            "created_at": now,
            "updated_at": now,
        },
    )
    return made, True


def charge_of(payment: Payment, order_id: str) -> Charge:
    return Charge(
        payment.id,
        order_id,
        payment.amount,
        payment.currency,
        "automatic" if payment.capture == "automatic" else "manual",
        payment.method,
    )


async def record_answer(
    session: AsyncSession, asked: PaymentOut, answer: GatewayPayment, keys: DataKeys
) -> PaymentOut:
    """What the gateway answered for the payment `asked` (as it was committed, pending):
    its ref, its client secret (sealed), how it was paid and what it became. If another
    request recorded an answer meanwhile, the payment as that left it."""
    now = utcnow()
    status = rules.after("pending", answer.status) or "pending"
    values = {
        "gateway_ref": answer.ref,
        "client_secret": None
        if answer.client_secret is None
        else keys.seal(answer.client_secret, SEALED_AS),
        "method": answer.method or asked.method,
        "status": status,
        "failure": answer.failure,
        "updated_at": now,
    }
    return await _answered(session, asked, values, answer.client_secret, keys)


async def record_refusal(
    session: AsyncSession, asked: PaymentOut, reason: str, keys: DataKeys
) -> PaymentOut:
    """The gateway refused to create the payment: nothing was charged, it ends failed."""
    values = {"status": "failed", "failure": reason[:500], "updated_at": utcnow()}
    return await _answered(session, asked, values, None, keys)


async def _answered(
    session: AsyncSession,
    asked: PaymentOut,
    values: Mapping[str, object],
    client_secret: str | None,
    keys: DataKeys,
) -> PaymentOut:
    """`values` set on the payment if it is still pending without an answer, by one
    conditional statement: nothing is read back, since what it holds is then known."""
    done = await session.execute(
        update(Payment)
        .where(Payment.id == asked.id, Payment.status == "pending", Payment.gateway_ref.is_(None))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], done).rowcount == 1:
        shown = {k: v for k, v in values.items() if k in ("status", "failure", "method")}
        return asked.model_copy(update=shown | {"client_secret": client_secret})
    payment = (await session.execute(select(Payment).where(Payment.id == asked.id))).scalar_one()
    return payment_view(payment, asked.order_id, keys)


async def apply_notice(session: AsyncSession, gateway: str, notice: Notice) -> str:
    """Act on a gateway's verified webhook event, once: what came of it (`applied`,
    `repeat` for an event acted on before, `unknown` for a payment Galley does not hold,
    `ignored` for an event that moves nothing, `disagrees` for a move the payment's
    states do not allow)."""
    first = await session.execute(
        insert_for(session, GatewayNotice.__table__)
        .values(gateway=gateway, event_id=notice.event_id, type=notice.type, received_at=utcnow())
        .on_conflict_do_nothing()
        .returning(GatewayNotice.event_id)
    )
    if first.scalar() is None:
        return "repeat"
    if notice.payment_ref is None or notice.status is None:
        return "ignored"
    named = Payment.gateway_ref == notice.payment_ref
    if notice.payment_id is not None:
        # Before the gateway's answer was recorded, only Galley's own id finds it.
        named = or_(named, and_(Payment.id == notice.payment_id, Payment.gateway_ref.is_(None)))
    payment = (
        await session.execute(
            select(Payment).where(Payment.gateway == gateway, named).with_for_update()
        )
    ).scalar_one_or_none()
    if payment is None:
        return "unknown"
    try:
        moved = rules.after(payment.status, notice.status)  # type: ignore[arg-type]
    except rules.IllegalPaymentMove:
        return "disagrees"
    if moved is None:
        return "ignored"
    await update_row(
        session,
        payment,
        {"status": moved, "gateway_ref": notice.payment_ref, "updated_at": utcnow()},
    )
    return "applied"


async def _refunded(session: AsyncSession, payments: list[int]) -> int:
    if not payments:
        return 0
    amounts = await session.execute(
        select(Refund.amount).where(Refund.payment_number.in_(payments), Refund.status != "failed")
    )
    return sum(amounts.scalars())


def payment_view(payment: Payment, order_id: str, keys: DataKeys) -> PaymentOut:
    secret = payment.client_secret
    return PaymentOut(
        id=payment.id,
        order_id=order_id,
        status=payment.status,
        amount=Money(amount=payment.amount, currency=payment.currency),
        gateway=payment.gateway,
        method=payment.method,
        client_secret=None if secret is None else keys.unseal(secret, SEALED_AS),
        failure=payment.failure,
        created_at=payment.created_at,
    )


async def payments_of(session: AsyncSession, order: Payable, keys: DataKeys) -> list[PaymentOut]:
    found = await session.execute(
        select(Payment).where(Payment.order_number == order.number).order_by(Payment.number)
    )
    return [payment_view(payment, order.id, keys) for payment in found.scalars()]
