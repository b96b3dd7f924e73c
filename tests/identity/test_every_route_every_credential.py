"""Every route, called with every kind of credential, answers as its permission says,
and no credential reaches an order that is not its own to see.

Credentials: no credentials; a user token of each role (two customers); an API key of
each role a key may have; and a restricted key for each scope, alone. A caller without
the route's permission is refused (401 without credentials, 403 with); one with it is
not. On every route that names an order, a customer reaches only their own; everyone
else with the permission reaches any. A new route is walked as soon as it exists.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from galley.identity import rules
from galley.identity.access import Requires
from galley.identity.credentials import issue_access_token
from tests import shop
from tests.auth import bearer
from tests.identity.test_route_inventory import PUBLIC

PASSWORD = "correct horse battery staple"
# Endless answers: only a refusal comes back at once, so only refusals are walked there.
STREAMS = {"/v1/fulfilment/stream"}


@dataclass(frozen=True)
class Credential:
    name: str
    headers: dict[str, str]
    permissions: frozenset[str]
    customer: str | None = None  # the customer whose own orders alone it reaches


def _routes(app: object) -> list[tuple[str, str, Requires]]:
    found = []
    for context in iter_route_contexts(app.router.routes):  # type: ignore[attr-defined]
        route = context.route
        if not isinstance(route, APIRoute):
            continue
        requirement = next(
            (d.call for d in route.dependant.dependencies if isinstance(d.call, Requires)), None
        )
        for method in context.methods or ():
            if (method, route.path) not in PUBLIC and requirement is not None:
                found.append((method, route.path, requirement))
    return found


async def _user(
    client: httpx.AsyncClient, email: str, role: rules.Role, keys: object
) -> tuple[str, str]:
    body = {"email": email, "password": PASSWORD, "role": role}
    made = await client.post("/v1/users", json=body)
    assert made.status_code == 201, made.text
    user_id = made.json()["id"]
    token = issue_access_token(int(user_id), role, keys, dt.timedelta(minutes=5))  # type: ignore[arg-type]
    return user_id, token


async def _key(client: httpx.AsyncClient, body: dict[str, object]) -> str:
    made = await client.post("/v1/api-keys", json={"name": "walk"} | body)
    assert made.status_code == 201, made.text
    return str(made.json()["secret"])


async def _credentials(
    client: httpx.AsyncClient, keys: object
) -> tuple[list[Credential], dict[str, str]]:
    """Every kind of caller, and the orders of the two customers."""
    credentials = [Credential("anonymous", {}, frozenset())]
    orders: dict[str, str] = {}
    for role in rules.ROLES:
        for who in ["alice", "bob"] if role == "customer" else [role]:
            _, token = await _user(client, f"{who}@example.com", role, keys)
            customer = who if role == "customer" else None
            credentials.append(
                Credential(f"user {who} ({role})", bearer(token), rules.PERMISSIONS[role], customer)
            )
            if customer:
                as_customer = httpx.AsyncClient(
                    transport=client._transport,
                    base_url=str(client.base_url),
                    headers=bearer(token),
                )
                orders[who] = (await shop.order(as_customer, ("TEA", 1)))["id"]
    for role in rules.KEY_ROLES:
        secret = await _key(client, {"role": role})
        credentials.append(Credential(f"key ({role})", bearer(secret), rules.PERMISSIONS[role]))
    for scope in rules.SCOPES:
        secret = await _key(client, {"scopes": [scope]})
        credentials.append(Credential(f"key [{scope}]", bearer(secret), frozenset({scope})))
    return credentials, orders


def _path(template: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_route_answers_every_credential_as_its_permission_and_the_order_owner_say(
    client: httpx.AsyncClient,
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    await shop.location(client)
    await shop.product(client, "TEA")
    await shop.stock(client, "TEA", 10)
    staff_order = (await shop.order(client, ("TEA", 1)))["id"]
    credentials, orders = await _credentials(client, app.state.settings.signing_keys)
    # Objects the routes name; those with no object-level rule may as well not exist (404).
    ids = {
        "user_id": "999999",
        "key_id": "999999",
        "code": "KITCHEN",
        "sku": "TEA",
        "entry_id": "1",
        "supplier_id": "999999",
        "po_id": "999999",
        "endpoint_id": "999999",
        "delivery_id": "999999",
    }
    bare = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    wrong: list[str] = []
    walked = 0
    for method, template, requirement in _routes(app):
        for credential in credentials:
            allowed = requirement.permission in credential.permissions or (
                requirement.public and not credential.headers
            )
            if allowed and template in STREAMS:
                continue
            for owner, order_id in _orders_to_try(template, staff_order, orders):
                path = _path(template, ids | {"order_id": order_id})
                body = {} if method in ("POST", "PATCH", "PUT") else None
                answer = await bare.request(method, path, json=body, headers=credential.headers)
                walked += 1
                status = answer.status_code
                if not allowed:
                    right = status == (403 if credential.headers else 401)
                elif owner is None:
                    right = status not in (401, 403)
                elif credential.customer in (None, owner):
                    right = status not in (401, 403, 404)
                else:  # another customer's order, or one staff placed: as if it did not exist
                    right = status == 404
                if not right:
                    wrong.append(f"{method} {path} as {credential.name}: {status}")
    assert wrong == []
    assert walked > len(_routes(app)) * len(credentials), walked
    for credential in credentials:
        if credential.customer is not None:
            listed = await bare.get("/v1/orders", headers=credential.headers)
            seen = {order["id"] for order in listed.json()["data"]}
            assert seen == {orders[credential.customer]}, credential.name


def _orders_to_try(
    template: str, staff_order: str, orders: dict[str, str]
) -> list[tuple[str | None, str]]:
    """On a route that names an order: each customer's, and one staff placed."""
    if "{order_id}" not in template:
        return [(None, staff_order)]
    return [*orders.items(), ("staff", staff_order)]
