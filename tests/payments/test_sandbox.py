"""The sandbox gateway, called directly: each test token's outcome, the same answer for
the same key, and its notices signed and checked as Standard Webhooks are."""

from __future__ import annotations

import datetime as dt

import pytest

from galley.payments.gateway import Capture, Charge, GatewayRefused, InvalidNotice
from galley.payments.sandbox import CONFIRMS_LATER, DECLINES, SUCCEEDS, SandboxGateway

SECRET = "whsec_" + "c2FuZGJveCBub3RpY2VzIGFyZSBzaWduZWQ="


def _charge(method: str | None = None, capture: Capture = "automatic") -> Charge:
    return Charge("pay-1", "order-1", 1250, "EUR", capture, method)


@pytest.mark.parametrize(
    ("method", "capture", "status"),
    [
        (None, "automatic", "captured"),
        (SUCCEEDS, "automatic", "captured"),
        (SUCCEEDS, "manual", "authorized"),
        (DECLINES, "automatic", "failed"),
        (CONFIRMS_LATER, "automatic", "pending"),
    ],
)
async def test_each_test_token_decides_the_outcome(
    method: str | None, capture: Capture, status: str
) -> None:
    made = await SandboxGateway(SECRET).create(_charge(method, capture))
    assert (made.status, made.amount, made.currency) == (status, 1250, "EUR")
    assert made.client_secret is not None
    assert made.client_secret.startswith(f"{made.ref}_secret_")
    assert (made.failure == "card_declined") is (status == "failed")


async def test_an_unknown_token_is_refused_naming_the_tokens() -> None:
    with pytest.raises(GatewayRefused, match="sandbox_succeeds"):
        await SandboxGateway(SECRET).create(_charge("tok_visa"))


async def test_creating_the_same_payment_again_gets_the_same_answer() -> None:
    sandbox = SandboxGateway(SECRET)
    assert await sandbox.create(_charge()) == await sandbox.create(_charge())


async def test_an_authorized_payment_is_captured_or_cancelled_once() -> None:
    sandbox = SandboxGateway(SECRET)
    made = await sandbox.create(_charge(capture="manual"))
    with pytest.raises(GatewayRefused, match="cannot be captured"):
        await sandbox.capture(made.ref, 1251, key="c")
    captured = await sandbox.capture(made.ref, 1000, key="c")
    assert (captured.status, captured.amount) == ("captured", 1000)
    assert await sandbox.capture(made.ref, 1000, key="c") == captured
    with pytest.raises(GatewayRefused, match="refund it instead"):
        await sandbox.cancel(made.ref, key="x")

    elsewhere = SandboxGateway(SECRET)
    other = await elsewhere.create(_charge(capture="manual"))
    assert (await elsewhere.cancel(other.ref, key="x")).status == "cancelled"
    assert (await elsewhere.cancel(other.ref, key="x")).status == "cancelled"


async def test_refunds_never_exceed_what_was_captured_and_repeat_by_key() -> None:
    sandbox = SandboxGateway(SECRET)
    made = await sandbox.create(_charge())
    first = await sandbox.refund(made.ref, 1000, key="r1")
    assert (first.status, first.amount) == ("succeeded", 1000)
    assert await sandbox.refund(made.ref, 1000, key="r1") == first
    with pytest.raises(GatewayRefused, match="cannot be refunded"):
        await sandbox.refund(made.ref, 251, key="r2")
    assert (await sandbox.refund(made.ref, 250, key="r2")).amount == 250


async def test_a_payment_it_does_not_hold_is_refused() -> None:
    with pytest.raises(GatewayRefused, match="no payment sbx_nobody"):
        await SandboxGateway(SECRET).retrieve("sbx_nobody")


async def test_a_payment_left_pending_is_confirmed_by_a_signed_notice() -> None:
    sandbox = SandboxGateway(SECRET)
    made = await sandbox.create(_charge(CONFIRMS_LATER))
    body, headers = sandbox.confirmation(made.ref, "payment.succeeded")
    notice = sandbox.notice(body, headers)
    assert (notice.payment_ref, notice.status, notice.amount, notice.currency) == (
        made.ref,
        "captured",
        1250,
        "EUR",
    )
    assert notice.event_id == headers["webhook-id"]
    assert (await sandbox.retrieve(made.ref)).status == "captured"


async def test_a_tampered_forged_or_stale_notice_is_refused() -> None:
    sandbox = SandboxGateway(SECRET)
    made = await sandbox.create(_charge(CONFIRMS_LATER))
    body, headers = sandbox.confirmation(made.ref, "payment.succeeded")
    with pytest.raises(InvalidNotice):
        sandbox.notice(body.replace(b"succeeded", b"failed"), headers)
    forger = SandboxGateway("whsec_" + "YW5vdGhlciBzZWNyZXQgYWx0b2dldGhlcg==")
    with pytest.raises(InvalidNotice):
        sandbox.notice(*forger.confirmation(made.ref, "payment.succeeded"))
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    with pytest.raises(InvalidNotice):
        sandbox.notice(*sandbox.confirmation(made.ref, "payment.succeeded", at=old))
    assert (await sandbox.retrieve(made.ref)).status == "pending"
