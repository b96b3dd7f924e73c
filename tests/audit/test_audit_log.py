"""The audit log records security events, and only administrators read it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.auth import api_key, bearer

PASSWORD = "correct horse battery"


def _anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))


async def _events(client: httpx.AsyncClient, **filters: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit-events", params={"limit": 200, **filters})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def _customer(client: httpx.AsyncClient, email: str) -> str:
    created = await client.post(
        "/v1/users", json={"email": email, "password": PASSWORD, "role": "customer"}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_log_ins_succeeded_and_failed_are_recorded_without_the_credentials(
    client: httpx.AsyncClient,
) -> None:
    user_id = await _customer(client, "ada@example.com")
    anonymous = _anonymous(client)
    await anonymous.post("/v1/auth/token", json={"email": "ada@example.com", "password": "wrong"})
    await anonymous.post("/v1/auth/token", json={"email": "nobody@example.com", "password": "x"})
    ok = await anonymous.post(
        "/v1/auth/token", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert ok.status_code == 200

    failed = await _events(client, kind="login.failed")
    assert [(e["actor"], e["subject"]) for e in failed] == [
        ("anonymous", f"user:{user_id}"),
        ("anonymous", None),
    ]
    assert all(e["address"] and e["request_id"] for e in failed)
    (succeeded,) = await _events(client, kind="login.succeeded")
    assert succeeded["actor"] == succeeded["subject"] == f"user:{user_id}"
    everything = str(await _events(client))
    for secret in ("ada@example.com", "nobody@example.com", "wrong", PASSWORD):
        assert secret not in everything


async def test_a_log_in_refused_by_its_rate_limit_is_recorded(client: httpx.AsyncClient) -> None:
    user_id = await _customer(client, "ada@example.com")
    anonymous = _anonymous(client)
    for _ in range(6):
        await anonymous.post("/v1/auth/token", json={"email": "ada@example.com", "password": "x"})

    assert len(await _events(client, kind="login.failed")) == 5
    (throttled,) = await _events(client, kind="login.throttled")
    assert throttled["subject"] is None  # the e-mail tried is not recorded anywhere
    assert throttled["data"] == {"method": "POST", "path": "/v1/auth/token"}
    assert f"user:{user_id}" not in str(throttled)


async def test_a_reused_refresh_token_is_recorded(client: httpx.AsyncClient) -> None:
    user_id = await _customer(client, "ada@example.com")
    anonymous = _anonymous(client)
    tokens = (
        await anonymous.post(
            "/v1/auth/token", json={"email": "ada@example.com", "password": PASSWORD}
        )
    ).json()
    body = {"refresh_token": tokens["refresh_token"]}
    assert (await anonymous.post("/v1/auth/refresh", json=body)).status_code == 200
    assert (await anonymous.post("/v1/auth/refresh", json=body)).status_code == 401

    (reused,) = await _events(client, kind="refresh_token.reused")
    assert reused["subject"] == f"user:{user_id}"


async def test_api_keys_created_and_revoked_are_recorded(
    client: httpx.AsyncClient, database_url: str
) -> None:
    created = await client.post("/v1/api-keys", json={"name": "till", "role": "staff"})
    key_id = created.json()["id"]
    assert (await client.delete(f"/v1/api-keys/{key_id}")).status_code == 204

    me = (await client.get("/v1/me")).json()
    events = await _events(client, actor=f"{me['kind']}:{me['id']}")
    kinds = [(e["kind"], e["subject"]) for e in events]
    assert ("api_key.created", f"api_key:{key_id}") in kinds
    assert ("api_key.revoked", f"api_key:{key_id}") in kinds
    (made,) = [e for e in events if e["kind"] == "api_key.created"]
    assert made["data"] == {"name": "till", "role": "staff"}


async def test_role_changes_and_disabling_are_recorded(client: httpx.AsyncClient) -> None:
    user_id = await _customer(client, "ada@example.com")
    current = await client.get(f"/v1/users/{user_id}")
    promoted = await client.patch(
        f"/v1/users/{user_id}",
        json={"role": "staff"},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "staff"
    stale = await client.patch(
        f"/v1/users/{user_id}",
        json={"disabled": True},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert stale.status_code == 412
    assert (await client.patch(f"/v1/users/{user_id}", json={"disabled": True})).status_code == 200

    changes = await _events(client, kind="user.changed")
    assert [e["data"] for e in changes] == [
        {"role": {"from": "customer", "to": "staff"}},
        {"disabled": {"from": False, "to": True}},
    ]
    refused = await _anonymous(client).post(
        "/v1/auth/token", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert refused.status_code == 401


async def test_an_admin_cannot_demote_or_disable_themselves(client: httpx.AsyncClient) -> None:
    await client.post(
        "/v1/users", json={"email": "boss@example.com", "password": PASSWORD, "role": "admin"}
    )
    tokens = (
        await _anonymous(client).post(
            "/v1/auth/token", json={"email": "boss@example.com", "password": PASSWORD}
        )
    ).json()
    me = bearer(tokens["access_token"])
    my_id = (await _anonymous(client).get("/v1/me", headers=me)).json()["id"]
    refused = await _anonymous(client).patch(
        f"/v1/users/{my_id}", json={"role": "staff"}, headers=me
    )
    assert refused.status_code == 409
    assert (await client.get(f"/v1/users/{my_id}")).json()["role"] == "admin"


async def test_permission_denials_are_recorded_with_the_permission(
    client: httpx.AsyncClient, database_url: str
) -> None:
    staff = bearer(await api_key(database_url, "staff"))
    denied = await _anonymous(client).post(
        "/v1/products",
        json={"sku": "TEA", "name": "Tea", "price": {"amount": 1, "currency": "EUR"}},
        headers=staff,
    )
    assert denied.status_code == 403

    (event,) = await _events(client, kind="permission.denied")
    assert event["actor"].startswith("api_key:")
    assert event["data"] == {
        "method": "POST",
        "path": "/v1/products",
        "permission": "catalog:write",
    }


@pytest.mark.parametrize("role", ["staff", "manager"])
async def test_only_administrators_read_the_audit_log(
    client: httpx.AsyncClient, database_url: str, role: Any
) -> None:
    response = await _anonymous(client).get(
        "/v1/audit-events", headers=bearer(await api_key(database_url, role))
    )
    assert response.status_code == 403
    assert (await _anonymous(client).get("/v1/audit-events")).status_code == 401


async def test_the_audit_log_filters_by_time_and_pages(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await _customer(client, f"c{n}@example.com")
    created = await _events(client, kind="user.created")
    assert len(created) == 3
    middle = created[1]["occurred_at"]

    assert [e["id"] for e in await _events(client, kind="user.created", since=middle)] == [
        e["id"] for e in created[1:]
    ]
    assert [e["id"] for e in await _events(client, kind="user.created", until=middle)] == [
        created[0]["id"]
    ]
    first = (
        await client.get("/v1/audit-events", params={"kind": "user.created", "limit": 2})
    ).json()
    second = (
        await client.get(
            "/v1/audit-events",
            params={"kind": "user.created", "limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()
    assert [e["id"] for e in first["data"] + second["data"]] == [e["id"] for e in created]
    assert second["next_cursor"] is None
    naive = dt.datetime(2026, 1, 1).isoformat()
    assert (await client.get("/v1/audit-events", params={"since": naive})).status_code == 422


@pytest.mark.parametrize(
    "change", ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"]
)
async def test_the_audit_log_is_append_only(
    client: httpx.AsyncClient, database_url: str, change: str
) -> None:
    await _customer(client, "ada@example.com")
    engine = create_async_engine(database_url)
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as connection:
            await connection.execute(text(change))
    await engine.dispose()
