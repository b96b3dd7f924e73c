"""A local stand-in for Stripe's API, for the real `stripe` SDK to talk to in tests: the
few endpoints Galley calls, answering with Stripe's documented object shapes and
honouring `Idempotency-Key` as Stripe does; and webhook payloads signed exactly as Stripe
signs them (`Stripe-Signature: t=<time>,v1=<HMAC-SHA256 of "<time>.<payload>">`)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.webhooks.receiver import read_body, serve_asgi

WEBHOOK_SECRET = "whsec_standin_" + "0" * 24
_UNEXPECTED = "payment_intent_unexpected_state"


class StripeStandIn:
    """An ASGI app holding PaymentIntents, charges and refunds in memory."""

    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._answered: dict[str, tuple[int, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.url = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await read_body(receive)
        method, path = scope["method"], scope["path"]
        raw = body.decode() if method == "POST" else scope["query_string"].decode()
        params = _nested(urllib.parse.parse_qsl(raw))
        self.requests.append((method, path, params))
        key = dict(scope["headers"]).get(b"idempotency-key")
        if key is not None and key.decode() in self._answered:
            status, answer = self._answered[key.decode()]
        else:
            status, answer = self._answer(method, path, params)
            if key is not None:
                self._answered[key.decode()] = (status, answer)
        headers = [(b"content-type", b"application/json"), (b"request-id", b"req_standin")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    def _answer(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "payment_intents"]:
            if method == "POST" and len(parts) == 2:
                return 200, self._create_intent(params)
            intent = self.intents.get(parts[2]) if len(parts) > 2 else None
            if intent is None:
                return _error(404, "resource_missing", f"No such payment_intent: '{parts[2]}'")
            if method == "GET":
                return 200, self._shown(intent, "latest_charge" in params.get("expand", []))
            if parts[3:] == ["capture"]:
                return self._capture(intent, params)
            if parts[3:] == ["cancel"]:
                return self._cancel(intent)
        if parts == ["v1", "refunds"] and method == "POST":
            return self._refund(params)
        return _error(404, "resource_missing", f"Unrecognized request URL ({method} {path})")

    def _create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        number = next(self._ids)
        intent = {
            "id": f"pi_standin{number}",
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "amount_received": 0,
            "currency": params["currency"],
            "capture_method": params.get("capture_method", "automatic"),
            "automatic_payment_methods": {"enabled": True},
            "client_secret": f"pi_standin{number}_secret_standin",
            "metadata": params.get("metadata", {}),
            "status": "requires_payment_method",
            "latest_charge": None,
            "last_payment_error": None,
            "livemode": False,
        }
        self.intents[intent["id"]] = intent
        return intent

    def _shown(self, intent: dict[str, Any], expanded: bool) -> dict[str, Any]:
        charge = intent["latest_charge"]
        if expanded and charge is not None:
            return {**intent, "latest_charge": self.charges[charge]}
        return intent

    def _capture(self, intent: dict[str, Any], params: dict[str, Any]) -> tuple[int, Any]:
        if intent["status"] != "requires_capture":
            return _error(
                400, "payment_intent_unexpected_state", "This PaymentIntent could not be captured."
            )
        amount = int(params.get("amount_to_capture", intent["amount"]))
        intent.update(status="succeeded", amount_received=amount)
        return 200, intent

    def _cancel(self, intent: dict[str, Any]) -> tuple[int, Any]:
        if intent["status"] in ("succeeded", "canceled"):
            return _error(
                400, "payment_intent_unexpected_state", "You cannot cancel this PaymentIntent."
            )
        intent["status"] = "canceled"
        return 200, intent

    def _refund(self, params: dict[str, Any]) -> tuple[int, Any]:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return _error(
                400, "charge_not_refundable", "This PaymentIntent has no charge to refund."
            )
        charge = self.charges[intent["latest_charge"]]
        amount = int(params.get("amount", charge["amount"] - charge["amount_refunded"]))
        if charge["amount_refunded"] + amount > charge["amount"]:
            return _error(400, "charge_already_refunded", "The refund exceeds the charge.")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {
            "id": f"re_standin{next(self._ids)}",
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": charge["id"],
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return 200, refund

    def confirm(self, intent_id: str, *, wallet: str | None = None) -> dict[str, Any]:
        """What Stripe.js does when the customer pays in the Payment Element (a card, or a
        wallet such as `google_pay`): the intent succeeds, or waits for its capture."""
        intent = self.intents[intent_id]
        card: dict[str, Any] = {"brand": "visa", "last4": "4242", "wallet": None}
        if wallet is not None:
            card["wallet"] = {"type": wallet, wallet: {}}
        charge = {
            "id": f"ch_standin{next(self._ids)}",
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "refunded": False,
            "currency": intent["currency"],
            "payment_intent": intent_id,
            "payment_method_details": {"type": "card", "card": card},
        }
        self.charges[charge["id"]] = charge
        manual = intent["capture_method"] == "manual"
        intent.update(
            status="requires_capture" if manual else "succeeded",
            amount_received=0 if manual else intent["amount"],
            latest_charge=charge["id"],
        )
        return intent

    def decline(self, intent_id: str) -> dict[str, Any]:
        intent = self.intents[intent_id]
        intent["last_payment_error"] = {
            "type": "card_error",
            "code": "card_declined",
            "message": "Your card was declined.",
        }
        return intent


def event(kind: str, thing: dict[str, Any], *, event_id: str | None = None) -> bytes:
    """A webhook event as Stripe sends it."""
    return json.dumps(
        {
            "id": event_id or f"evt_standin_{time.monotonic_ns()}",
            "object": "event",
            "api_version": "2025-09-30.clover",
            "created": int(time.time()),
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": thing},
        }
    ).encode()


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    """The headers Stripe sends `payload` with."""
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={at},v1={mac}"}


@contextmanager
def running() -> Iterator[StripeStandIn]:
    standin = StripeStandIn()
    with serve_asgi(standin) as url:
        standin.url = url
        yield standin


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`metadata[order]=…`, `expand[0]=…`) as nested values."""
    found: dict[str, Any] = {}
    for name, value in pairs:
        keys = name.replace("]", "").split("[")
        place = found
        for key in keys[:-1]:
            place = place.setdefault(key, {})
        place[keys[-1]] = value
    for name, value in list(found.items()):
        if isinstance(value, dict) and value and all(k.isdigit() for k in value):
            found[name] = [value[k] for k in sorted(value, key=int)]
    return found


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": "invalid_request_error", "code": code, "message": message}}
