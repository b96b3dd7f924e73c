from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import jwt
import pytest

from galley.config import Settings
from galley.config_values import key_ring
from galley.identity.credentials import issue_access_token
from tests import shop
from tests.auth import TEST_JWT_KEYS

PASSWORD = "correct horse battery"


@pytest.fixture
def anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same app, without the administrator's key."""
    return httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))


async def _register(anonymous: httpx.AsyncClient, email: str, **profile: str) -> dict[str, Any]:
    response = await anonymous.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, **profile}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _log_in(anonymous: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await anonymous.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _as(client: httpx.AsyncClient, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=client._transport,
        base_url=str(client.base_url),
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_a_customer_signs_up_logs_in_and_sees_who_they_are(
    anonymous: httpx.AsyncClient,
) -> None:
    await _register(anonymous, "Ada@Example.com", name="Ada Lovelace", phone="+44 20 7946 0958")
    tokens = await _log_in(anonymous, "ada@example.com")

    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    me = await _as(anonymous, tokens["access_token"]).get("/v1/me")
    assert me.json() | {"id": "x"} == {
        "kind": "user",
        "id": "x",
        "role": "customer",
        "scopes": None,
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": "+44 20 7946 0958",
    }


async def test_the_docs_log_in_with_the_oauth2_password_form(anonymous: httpx.AsyncClient) -> None:
    await _register(anonymous, "form@example.com")
    response = await anonymous.post(
        "/v1/auth/token", data={"username": "form@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    anonymous: httpx.AsyncClient,
) -> None:
    await _register(anonymous, "bob@example.com")
    wrong = await anonymous.post(
        "/v1/auth/token", json={"email": "bob@example.com", "password": "not the password"}
    )
    unknown = await anonymous.post(
        "/v1/auth/token", json={"email": "nobody@example.com", "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() | {"instance": ""} == unknown.json() | {"instance": ""}


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 12"),
        ("carol@example.com", "e-mail"),
        ("password1234", "common"),
    ],
)
async def test_weak_passwords_are_refused(
    anonymous: httpx.AsyncClient, password: str, problem: str
) -> None:
    response = await anonymous.post(
        "/v1/auth/register", json={"email": "carol@example.com", "password": password}
    )
    assert response.status_code == 422
    assert problem in response.json()["detail"]


async def test_a_refresh_token_works_once_and_its_reuse_revokes_the_family(
    anonymous: httpx.AsyncClient,
) -> None:
    await _register(anonymous, "dan@example.com")
    first = await _log_in(anonymous, "dan@example.com")

    second = await anonymous.post(
        "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    reused = await anonymous.post(
        "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    # The thief's reuse cost the rightful holder the newer token too.
    newer = await anonymous.post(
        "/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
    )
    assert newer.status_code == 401


async def test_logging_out_revokes_the_refresh_token(anonymous: httpx.AsyncClient) -> None:
    await _register(anonymous, "eve@example.com")
    tokens = await _log_in(anonymous, "eve@example.com")
    user = _as(anonymous, tokens["access_token"])

    assert (
        await user.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 204
    again = await anonymous.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert again.status_code == 401


async def test_tampered_expired_unknown_key_and_unsigned_tokens_are_refused(
    anonymous: httpx.AsyncClient, settings: Settings
) -> None:
    await _register(anonymous, "fay@example.com")
    good = (await _log_in(anonymous, "fay@example.com"))["access_token"]
    keys = settings.signing_keys
    forged = [
        good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        issue_access_token(1, "admin", keys, dt.timedelta(seconds=-1)),
        issue_access_token(1, "admin", [("other", b"x" * 32)], dt.timedelta(minutes=5)),
        jwt.encode(
            {"sub": "1", "role": "admin", "iat": 0, "exp": 2**40}, key=None, algorithm="none"
        ),
    ]
    for token in forged:
        response = await _as(anonymous, token).get("/v1/me")
        assert response.status_code == 401, token


async def test_keys_rotate_without_logging_anyone_out(
    anonymous: httpx.AsyncClient, settings: Settings
) -> None:
    old = issue_access_token(7, "staff", settings.signing_keys, dt.timedelta(minutes=5))
    rotated = settings.model_copy(
        update={
            "jwt_keys": key_ring(
                "new:" + "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleSE," + TEST_JWT_KEYS
            )
        }
    )
    assert rotated.signing_keys[0][0] == "new"
    assert rotated.signing_keys[1] == settings.signing_keys[0]
    # A token signed with the old key is still read with the rotated ring.
    from galley.identity.credentials import read_access_token

    assert read_access_token(old, rotated.signing_keys).user_id == 7


async def test_without_credentials_only_the_public_catalog_answers(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await shop.location(client)
    await shop.product(client, "TEA")
    await shop.product(client, "OLD", active=False)

    listed = (await anonymous.get("/v1/products")).json()["data"]
    assert [p["sku"] for p in listed] == ["TEA"]
    assert (await anonymous.get("/v1/products/OLD")).status_code == 404
    for path in ("/v1/orders", "/v1/stock", "/v1/locations", "/v1/suppliers", "/v1/me"):
        response = await anonymous.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_customer_sees_and_cancels_only_their_own_orders(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await shop.location(client)
    await shop.product(client, "TEA")
    await shop.stock(client, "TEA", 10)
    for email in ("gus@example.com", "hal@example.com"):
        await _register(anonymous, email)
    gus = _as(anonymous, (await _log_in(anonymous, "gus@example.com"))["access_token"])
    hal = _as(anonymous, (await _log_in(anonymous, "hal@example.com"))["access_token"])

    placed = await gus.post(
        "/v1/orders", json={"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    assert (await hal.get(f"/v1/orders/{order_id}")).status_code == 404
    assert (await hal.post(f"/v1/orders/{order_id}/cancel", json={})).status_code == 404
    assert (await hal.get("/v1/orders")).json()["data"] == []
    assert [o["id"] for o in (await gus.get("/v1/orders")).json()["data"]] == [order_id]
    assert (await gus.post(f"/v1/orders/{order_id}/start")).status_code == 403
    assert (await gus.get("/v1/stock")).status_code == 403

    await client.post(f"/v1/orders/{order_id}/start")
    late = await gus.post(f"/v1/orders/{order_id}/cancel", json={})
    assert late.status_code == 409
    assert late.json()["current_status"] == "preparing"


async def test_an_api_key_is_shown_once_listed_and_revoked_at_once(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/v1/api-keys", json={"name": "till", "role": "staff"})
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert secret.startswith("gk_live_")
    till = _as(client, secret)
    assert (await till.get("/v1/stock")).status_code == 200
    assert (await till.post("/v1/locations", json={"code": "X", "name": "X"})).status_code == 403

    listed = (await client.get("/v1/api-keys")).json()
    mine = next(k for k in listed if k["id"] == created.json()["id"])
    assert "secret" not in mine
    assert mine["last_used_at"] is not None

    assert (await client.delete(f"/v1/api-keys/{mine['id']}")).status_code == 204
    assert (await till.get("/v1/stock")).status_code == 401


async def test_an_admin_creates_staff_who_may_prepare_but_not_adjust_stock(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    created = await client.post(
        "/v1/users", json={"email": "ivy@example.com", "password": PASSWORD, "role": "staff"}
    )
    assert created.status_code == 201, created.text
    ivy = _as(anonymous, (await _log_in(anonymous, "ivy@example.com"))["access_token"])

    assert (await ivy.get("/v1/stock")).status_code == 200
    adjust = {"sku": "TEA", "location": "K", "delta": 1, "reason": "count"}
    assert (await ivy.post("/v1/stock/adjustments", json=adjust)).status_code == 403
    assert (
        await ivy.post(
            "/v1/users",
            json={
                "email": "x@example.com",
                "password": PASSWORD,
                "role": "admin",
            },
        )
    ).status_code == 403
