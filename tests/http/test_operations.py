from __future__ import annotations

import json

import httpx
import pytest

from galley.app import create_app
from galley.config import load_settings


async def test_healthz_and_readyz_answer_when_the_database_does(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200


async def test_readyz_names_the_database_when_it_is_down() -> None:
    settings = load_settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["down"] == ["database"]


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/v1/orders/{order_id}/cancel" in spec["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "content-security-policy" in docs.headers


async def test_metrics_are_in_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert "galley_http_request_duration_seconds" in response.text


async def test_each_request_is_logged_once_with_its_request_id(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(load_settings(database_url=database_url, log_format="json"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/v1/products", headers={"X-Request-ID": "req-42"})
    await app.state.engine.dispose()

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    requests = [line for line in lines if line["event"] == "http.request"]
    assert response.headers["x-request-id"] == "req-42"
    assert len(requests) == 1
    assert requests[0] | {"duration_ms": 0, "timestamp": ""} == {
        "event": "http.request",
        "method": "GET",
        "path": "/v1/products",
        "status": 200,
        "duration_ms": 0,
        "request_id": "req-42",
        "level": "info",
        "timestamp": "",
    }


async def test_metrics_can_be_switched_off(database_url: str) -> None:
    app = create_app(load_settings(database_url=database_url, metrics_enabled=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 404
    await app.state.engine.dispose()
