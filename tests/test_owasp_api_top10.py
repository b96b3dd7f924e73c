"""The OWASP API Security Top 10 (2023), risk by risk, attacked on the real app.

Each class names the risk it covers. API7 (server-side request forgery) and API10
(unsafe consumption of APIs) do not apply yet: Galley makes no outbound calls.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import jwt
import pytest

from galley.config_values import parse_keys
from galley.identity.credentials import issue_access_token
from tests import shop
from tests.auth import TEST_JWT_KEYS, api_key, bearer
from tests.http.test_throttle import galley
from tests.identity import test_route_inventory as route_inventory

PASSWORD = "correct horse battery"
ORDER = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}


def _anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))


async def _customer(client: httpx.AsyncClient, email: str) -> httpx.AsyncClient:
    """A signed-up, logged-in customer of the same app."""
    anonymous = _anonymous(client)
    signed_up = await anonymous.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert signed_up.status_code == 201, signed_up.text
    tokens = await anonymous.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    anonymous.headers.update(bearer(tokens.json()["access_token"]))
    return anonymous


async def _shop(client: httpx.AsyncClient) -> None:
    await shop.location(client)
    await shop.product(client, "TEA", 250)
    await shop.stock(client, "TEA", 100)


class TestAPI1BrokenObjectLevelAuthorization:
    """A customer reaches another customer's order by its id."""

    async def test_another_customers_order_is_not_found_to_read_cancel_or_trace(
        self, client: httpx.AsyncClient
    ) -> None:
        await _shop(client)
        alice, mallory = (
            await _customer(client, "alice@example.com"),
            await _customer(client, "mallory@example.com"),
        )
        order = (await alice.post("/v1/orders", json=ORDER)).json()

        for attempt in (
            mallory.get(f"/v1/orders/{order['id']}"),
            mallory.get(f"/v1/orders/{order['id']}/events"),
            mallory.post(f"/v1/orders/{order['id']}/cancel", json={}),
        ):
            assert (await attempt).status_code == 404
        assert (await mallory.get("/v1/orders")).json()["data"] == []
        assert (await alice.get(f"/v1/orders/{order['id']}")).json()["status"] == "confirmed"


class TestAPI2BrokenAuthentication:
    """Guessing passwords, forging tokens, replaying refresh tokens."""

    async def test_password_guessing_is_stopped_after_five_failures(
        self, database_url: str
    ) -> None:
        async with galley(database_url) as app:
            await _customer(app(token=await api_key(database_url)), "ada@example.com")
            guesses = [
                await app().post(
                    "/v1/auth/token", json={"email": "ada@example.com", "password": f"guess {n}"}
                )
                for n in range(6)
            ]
            assert [g.status_code for g in guesses] == [401] * 5 + [429]
            assert int(guesses[-1].headers["retry-after"]) > 0

    @pytest.mark.parametrize(
        "forgery", ["tampered", "expired", "alg_none", "unknown_key", "garbage"]
    )
    async def test_forged_tokens_are_refused(self, client: httpx.AsyncClient, forgery: str) -> None:
        keys = parse_keys(TEST_JWT_KEYS)
        real = issue_access_token(1, "customer", keys, dt.timedelta(minutes=5))
        header, _, signature = real.split(".")
        token = {
            "tampered": ".".join(
                [
                    header,
                    jwt.utils.base64url_encode(
                        json.dumps({"sub": "1", "role": "admin", "iat": 0, "exp": 2**40}).encode()
                    ).decode(),
                    signature,
                ]
            ),
            "expired": issue_access_token(1, "admin", keys, dt.timedelta(minutes=-1)),
            "alg_none": jwt.encode(
                {"sub": "1", "role": "admin", "iat": 0, "exp": 2**40},
                None,
                algorithm="none",
                headers={"kid": "test"},
            ),
            "unknown_key": jwt.encode(
                {"sub": "1", "role": "admin", "iat": 0, "exp": 2**40},
                "x" * 32,
                algorithm="HS256",
                headers={"kid": "mine"},
            ),
            "garbage": "not-a-token",
        }[forgery]
        response = await _anonymous(client).get("/v1/orders", headers=bearer(token))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_a_replayed_refresh_token_ends_the_whole_login(
        self, client: httpx.AsyncClient
    ) -> None:
        await _customer(client, "ada@example.com")
        anonymous = _anonymous(client)
        first = (
            await anonymous.post(
                "/v1/auth/token", json={"email": "ada@example.com", "password": PASSWORD}
            )
        ).json()
        second = (
            await anonymous.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        ).json()
        stolen = await anonymous.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert stolen.status_code == 401
        legit = await anonymous.post(
            "/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
        )
        assert legit.status_code == 401


class TestAPI3BrokenObjectPropertyLevelAuthorization:
    """Setting through a body what the caller does not own."""

    @pytest.mark.parametrize(
        "extra",
        [
            {"status": "completed"},
            {"total": {"amount": 1, "currency": "EUR"}},
            {"customer": "1"},
            {"customer_id": 1},
            {
                "lines": [
                    {"sku": "TEA", "quantity": 1, "unit_price": {"amount": 1, "currency": "EUR"}}
                ]
            },
        ],
    )
    async def test_an_order_body_cannot_set_what_galley_decides(
        self, client: httpx.AsyncClient, extra: dict[str, Any]
    ) -> None:
        await _shop(client)
        customer = await _customer(client, "ada@example.com")
        before = await shop.everything(client)
        response = await customer.post("/v1/orders", json=ORDER | extra)
        assert response.status_code == 422
        assert await shop.everything(client) == before

    @pytest.mark.parametrize("extra", [{"role": "admin"}, {"disabled": False}, {"id": "1"}])
    async def test_signing_up_cannot_choose_a_role(
        self, client: httpx.AsyncClient, extra: dict[str, Any]
    ) -> None:
        response = await _anonymous(client).post(
            "/v1/auth/register", json={"email": "eve@example.com", "password": PASSWORD} | extra
        )
        assert response.status_code == 422
        logged_in = await _anonymous(client).post(
            "/v1/auth/token", json={"email": "eve@example.com", "password": PASSWORD}
        )
        assert logged_in.status_code == 401

    async def test_an_order_answer_shows_no_one_elses_data(self, client: httpx.AsyncClient) -> None:
        await _shop(client)
        customer = await _customer(client, "ada@example.com")
        order = (await customer.post("/v1/orders", json=ORDER)).json()
        assert "customer_id" not in order
        assert "password_hash" not in (await customer.get("/v1/me")).text


class TestAPI4UnrestrictedResourceConsumption:
    """Asking for more than a request may cost."""

    async def test_a_page_larger_than_200_is_refused(self, client: httpx.AsyncClient) -> None:
        for path in ("/v1/products", "/v1/orders", "/v1/stock", "/v1/audit-events"):
            assert (await client.get(path, params={"limit": 201})).status_code == 422

    async def test_a_body_over_one_mebibyte_is_refused_unread(
        self, client: httpx.AsyncClient
    ) -> None:
        body = b'{"location": "' + b"K" * 1_100_000 + b'"}'
        response = await client.post(
            "/v1/orders", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413

    async def test_deeply_nested_json_is_a_client_error(self, client: httpx.AsyncClient) -> None:
        body = b'{"lines": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        response = await client.post(
            "/v1/orders", content=body, headers={"Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500

    async def test_a_flood_of_requests_is_cut_off(self, database_url: str) -> None:
        async with galley(database_url, rate_limit_requests="20/minute") as app:
            caller = app(token=await api_key(database_url))
            answers = [(await caller.get("/v1/products")).status_code for _ in range(25)]
            assert answers == [200] * 20 + [429] * 5


class TestAPI5BrokenFunctionLevelAuthorization:
    """Customers and staff calling what only managers and admins may."""

    MANAGER_AND_ADMIN = [
        (
            "POST",
            "/v1/products",
            {"sku": "X", "name": "X", "price": {"amount": 1, "currency": "EUR"}},
        ),
        ("PATCH", "/v1/products/TEA", {"name": "Free tea"}),
        ("POST", "/v1/locations", {"code": "BACK", "name": "Back door"}),
        (
            "POST",
            "/v1/stock/adjustments",
            {"sku": "TEA", "location": "KITCHEN", "delta": 99, "reason": "received"},
        ),
        ("POST", "/v1/suppliers", {"name": "Shady", "currency": "EUR"}),
        ("GET", "/v1/purchase-orders", None),
        ("POST", "/v1/users", {"email": "x@example.com", "password": PASSWORD, "role": "admin"}),
        ("POST", "/v1/api-keys", {"name": "mine", "role": "admin"}),
        ("GET", "/v1/api-keys", None),
        ("GET", "/v1/audit-events", None),
        ("PATCH", "/v1/users/1", {"role": "admin"}),
    ]

    @pytest.mark.parametrize("role", ["customer", "staff"])
    async def test_manager_and_admin_routes_are_forbidden(
        self, client: httpx.AsyncClient, database_url: str, role: Any
    ) -> None:
        await _shop(client)
        before = await shop.everything(client)
        if role == "customer":  # a key is never a customer: a customer's own log-in
            caller = await _customer(client, "eve@example.com")
        else:
            caller = _anonymous(client)
            caller.headers.update(bearer(await api_key(database_url, role)))
        for method, path, body in self.MANAGER_AND_ADMIN:
            response = await caller.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
        assert await shop.everything(client) == before

    async def test_staff_may_not_manage_keys_or_users_and_managers_neither(
        self, client: httpx.AsyncClient, database_url: str
    ) -> None:
        manager = _anonymous(client)
        manager.headers.update(bearer(await api_key(database_url, "manager")))
        for method, path, body in self.MANAGER_AND_ADMIN[-5:]:
            assert (await manager.request(method, path, json=body)).status_code == 403


class TestAPI6UnrestrictedAccessToSensitiveBusinessFlows:
    """One customer (or their bot) placing orders as fast as it can."""

    async def test_a_customer_cannot_flood_the_shop_with_orders(self, database_url: str) -> None:
        async with galley(database_url, rate_limit_orders="3/minute") as app:
            await _shop(app(token=await api_key(database_url)))
            bot = await _customer(app(token=await api_key(database_url)), "bot@example.com")
            answers = [(await bot.post("/v1/orders", json=ORDER)).status_code for _ in range(5)]
            assert answers == [201] * 3 + [429] * 2


class TestAPI8SecurityMisconfiguration:
    """Missing headers, leaked internals, open CORS."""

    async def test_every_answer_carries_the_security_headers(
        self, client: httpx.AsyncClient
    ) -> None:
        for response in (
            await client.get("/v1/products"),
            await _anonymous(client).get("/v1/orders"),
            await client.get("/v1/orders/nope"),
            await client.get("/docs"),
        ):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert "strict-transport-security" not in response.headers  # plain HTTP here

    async def test_an_error_never_shows_a_stack_trace_or_sql(
        self, client: httpx.AsyncClient
    ) -> None:
        for response in (
            await client.post(
                "/v1/orders", content=b"{", headers={"Content-Type": "application/json"}
            ),
            await client.get("/v1/orders", params={"cursor": "' OR 1=1 --"}),
            await client.post("/v1/locations", json={"code": "K", "name": "K"}),
            await client.post("/v1/locations", json={"code": "K", "name": "K"}),
        ):
            for leak in ("Traceback", 'File "', "SELECT", "INSERT", "sqlalchemy", "/galley/"):
                assert leak not in response.text

    async def test_no_origin_may_read_the_api_from_a_browser_unless_allowed(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.options(
            "/v1/orders",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in response.headers
        plain = await client.get("/v1/products", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in plain.headers


class TestAPI9ImproperInventoryManagement:
    """An endpoint nobody meant to expose."""

    def test_every_route_is_protected_or_deliberately_public(self) -> None:
        route_inventory.test_every_route_declares_a_permission_or_is_public()

    def test_the_spec_documents_the_security_of_every_protected_route(self) -> None:
        route_inventory.test_the_spec_shows_the_security_of_every_protected_route()

    async def test_only_the_current_version_is_served(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert all(p.startswith("/v1/") or p in {"/healthz", "/readyz", "/metrics"} for p in paths)
        for old in ("/v0/orders", "/orders", "/api/orders"):
            assert (await client.get(old)).status_code == 404
