"""Administrators register, change, rotate and delete webhook endpoints; URLs that lead
inside the network are refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from standardwebhooks import Webhook

from tests.auth import api_key, bearer
from tests.webhooks.conftest import ClientFor

# A public address, written as one, so no name needs looking up.
PUBLIC = "https://93.184.216.34/hooks"


async def _register(client: httpx.AsyncClient, url: str = PUBLIC, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "event_types": ["order.placed"]} | extra
    response = await client.post("/v1/webhook-endpoints", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _endpoints(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/v1/webhook-endpoints", params={"limit": 200})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def _audited(client: httpx.AsyncClient, kind: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit-events", params={"kind": kind})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_an_endpoint_is_registered_and_its_secret_shown_only_then(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/webhook-endpoints",
        json={
            "url": PUBLIC,
            "event_types": ["order.placed", "order.cancelled", "order.placed"],
            "description": "kitchen display",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/webhook-endpoints/{created['id']}"
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # a secret the Standard Webhooks library reads
    assert created["event_types"] == ["order.placed", "order.cancelled"]
    assert created["enabled"] is True
    assert created["disabled_reason"] is None

    shown = await client.get(response.headers["location"])
    assert shown.status_code == 200
    assert shown.headers["etag"]
    assert "secret" not in shown.json()
    assert {k: v for k, v in created.items() if k != "secret"} == shown.json()
    everything = (await client.get("/v1/webhook-endpoints")).text
    assert created["secret"] not in everything
    assert created["secret"].removeprefix("whsec_") not in everything
    assert [e["subject"] for e in await _audited(client, "webhook_endpoint.created")] == [
        f"webhook_endpoint:{created['id']}"
    ]


async def test_the_secret_is_stored_sealed(client: httpx.AsyncClient, database_url: str) -> None:
    created = await _register(client)
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT secret FROM webhook_endpoints"))).scalar()
    await engine.dispose()
    assert str(stored).startswith("data1:")
    assert created["secret"].removeprefix("whsec_") not in stored


async def test_endpoints_are_listed_by_page_and_filtered(client: httpx.AsyncClient) -> None:
    ids = [(await _register(client, description=f"hook {n}"))["id"] for n in range(3)]
    await client.patch(f"/v1/webhook-endpoints/{ids[1]}", json={"enabled": False})

    first = (await client.get("/v1/webhook-endpoints", params={"limit": 2})).json()
    assert [e["id"] for e in first["data"]] == ids[:2]
    rest = await client.get("/v1/webhook-endpoints", params={"cursor": first["next_cursor"]})
    assert [e["id"] for e in rest.json()["data"]] == ids[2:]
    assert rest.json()["next_cursor"] is None
    enabled = await client.get("/v1/webhook-endpoints", params={"enabled": "true"})
    assert [e["id"] for e in enabled.json()["data"]] == [ids[0], ids[2]]


async def test_an_endpoint_is_changed_only_if_it_matches(client: httpx.AsyncClient) -> None:
    created = await _register(client, description="kitchen")
    path = f"/v1/webhook-endpoints/{created['id']}"
    etag = (await client.get(path)).headers["etag"]

    changed = await client.patch(
        path,
        json={"event_types": ["product.created"], "description": None},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["product.created"]
    assert changed.json()["description"] is None
    stale = await client.patch(path, json={"description": "again"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert (await client.get(path)).json()["description"] is None
    (audited,) = await _audited(client, "webhook_endpoint.changed")
    assert audited["data"]["event_types"] == {"from": ["order.placed"], "to": ["product.created"]}


async def test_an_endpoint_is_disabled_and_enabled_again(client: httpx.AsyncClient) -> None:
    created = await _register(client)
    path = f"/v1/webhook-endpoints/{created['id']}"

    disabled = (await client.patch(path, json={"enabled": False})).json()
    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "by_request")
    enabled = (await client.patch(path, json={"enabled": True})).json()
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)


async def test_deleting_an_endpoint_forgets_it(client: httpx.AsyncClient) -> None:
    created = await _register(client)
    path = f"/v1/webhook-endpoints/{created['id']}"

    assert (await client.delete(path)).status_code == 204
    for response in (await client.get(path), await client.delete(path)):
        assert response.status_code == 404
        assert response.json()["type"].endswith("/webhook-endpoint-not-found")
    assert await _endpoints(client) == []
    assert len(await _audited(client, "webhook_endpoint.deleted")) == 1


async def test_rotating_gives_a_new_secret_and_keeps_the_old_one_for_a_day(
    client: httpx.AsyncClient,
) -> None:
    created = await _register(client)
    before = dt.datetime.now(dt.UTC)
    rotated = await client.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    until = dt.datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert dt.timedelta(hours=24) <= until - before < dt.timedelta(hours=24, minutes=1)
    shown = (await client.get(f"/v1/webhook-endpoints/{created['id']}")).json()
    assert "secret" not in shown
    assert len(await _audited(client, "webhook_endpoint.secret_rotated")) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hooks", "a loopback address"),
        ("https://localhost:8443/hooks", "a loopback address"),
        ("https://10.0.0.5/hooks", "a private address"),
        ("https://192.168.1.20/hooks", "a private address"),
        ("https://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("https://[fd00:ec2::254]/", "a cloud metadata address"),
        ("https://[::1]:8443/", "a loopback address"),
        ("https://[::ffff:127.0.0.1]/", "a loopback address"),
        ("https://0.0.0.0/", "an unspecified address"),
        ("https://2130706433/", "a loopback address"),  # 127.0.0.1 as one number
    ],
)
async def test_a_url_leading_inside_the_network_is_refused_and_nothing_written(
    client: httpx.AsyncClient, url: str, reason: str
) -> None:
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": url, "event_types": ["order.placed"]}
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/webhook-url-refused")
    assert reason in problem["detail"]
    assert problem["errors"][0]["field"] == "url"
    assert await _endpoints(client) == []
    assert await _audited(client, "webhook_endpoint.created") == []


async def test_a_url_inside_the_network_is_accepted_when_private_addresses_are_allowed(
    client_for: ClientFor,
) -> None:
    client = await client_for(webhooks_allow_private=True)
    created = await _register(client, "https://127.0.0.1:9/hooks")
    assert created["url"] == "https://127.0.0.1:9/hooks"


async def test_a_change_to_a_url_inside_the_network_is_refused(client: httpx.AsyncClient) -> None:
    created = await _register(client)
    path = f"/v1/webhook-endpoints/{created['id']}"
    response = await client.patch(path, json={"url": "https://10.0.0.5/hooks"})
    assert response.status_code == 422
    assert (await client.get(path)).json()["url"] == PUBLIC


async def test_plain_http_is_refused_unless_insecure_is_allowed(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    body = {"url": "http://93.184.216.34/hooks", "event_types": ["order.placed"]}
    refused = await client.post("/v1/webhook-endpoints", json=body)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "url", "message": "must be an https URL"}]

    insecure = await client_for(webhooks_allow_insecure=True)
    assert (await insecure.post("/v1/webhook-endpoints", json=body)).status_code == 201


async def test_a_host_that_does_not_resolve_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://nowhere.invalid/hooks", "event_types": ["order.placed"]},
    )
    assert response.status_code == 422
    assert "does not resolve" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC, "event_types": []},
        {"url": PUBLIC, "event_types": ["order.eaten"]},
        {"url": PUBLIC},
        {"url": PUBLIC, "event_types": ["order.placed"], "secret": "whsec_mine"},
        {"url": PUBLIC, "event_types": ["order.placed"], "enabled": False},
        {"url": "https://hooks.example.com/a b", "event_types": ["order.placed"]},
    ],
)
async def test_a_malformed_registration_is_refused(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/v1/webhook-endpoints", json=body)
    assert response.status_code == 422, response.text
    assert await _endpoints(client) == []


@pytest.mark.parametrize("role", ["staff", "manager"])
async def test_only_administrators_manage_webhooks(
    client: httpx.AsyncClient, database_url: str, role: Any
) -> None:
    created = await _register(client)
    headers = bearer(await api_key(database_url, role))
    body = {"url": PUBLIC, "event_types": ["order.placed"]}
    path = f"/v1/webhook-endpoints/{created['id']}"
    for response in (
        await client.get("/v1/webhook-endpoints", headers=headers),
        await client.post("/v1/webhook-endpoints", json=body, headers=headers),
        await client.post(f"{path}/rotate-secret", headers=headers),
        await client.get(f"{path}/deliveries", headers=headers),
        await client.delete(path, headers=headers),
    ):
        assert response.status_code == 403
    assert len(await _endpoints(client)) == 1


async def test_an_unknown_endpoint_or_delivery_is_not_found(client: httpx.AsyncClient) -> None:
    created = await _register(client)
    for path in (
        "/v1/webhook-endpoints/99",
        "/v1/webhook-endpoints/99/deliveries",
        f"/v1/webhook-endpoints/{created['id']}/deliveries/99",
    ):
        assert (await client.get(path)).status_code == 404
    redeliver = await client.post(f"/v1/webhook-endpoints/{created['id']}/deliveries/99/redeliver")
    assert redeliver.status_code == 404
