"""HTTPS and HSTS, reverse proxies that are believed only when trusted, and CORS."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request

from galley.app import create_app
from galley.config import Settings, load_settings
from tests.certificates import self_signed
from tests.live import TLS, running_server

HSTS = "max-age=63072000; includeSubDomains"
SHOP = "https://shop.example.com"


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite database for a live server."""
    path = tmp_path / "galley.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    """Transport does not depend on the database: one kind is enough here."""
    return load_settings(database_url=sqlite_url, log_level="WARNING")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    return self_signed(tmp_path, "127.0.0.1")


@pytest.mark.slow
def test_galley_serve_with_a_certificate_answers_https_with_hsts(
    sqlite_url: str, certificate: tuple[Path, Path]
) -> None:
    with running_server(sqlite_url, tls=certificate) as base:
        assert base.startswith("https://")
        verify = ssl.create_default_context(cafile=certificate[0])
        response = httpx.get(f"{base}/healthz", verify=verify)

    assert response.status_code == 200
    assert response.headers["strict-transport-security"] == HSTS


@pytest.mark.slow
def test_plain_http_answers_carry_no_hsts(sqlite_url: str) -> None:
    with running_server(sqlite_url) as base:
        response = httpx.get(f"{base}/healthz", verify=TLS)

    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers


@pytest.mark.slow
@pytest.mark.parametrize(("trusted", "hsts"), [("127.0.0.1", True), ("", False)])
def test_forwarded_proto_brings_hsts_only_from_a_trusted_proxy(
    sqlite_url: str, trusted: str, hsts: bool
) -> None:
    with running_server(sqlite_url, env={"GALLEY_TRUSTED_PROXIES": trusted}) as base:
        response = httpx.get(
            f"{base}/healthz",
            verify=TLS,
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
        )

    assert response.status_code == 200
    assert ("strict-transport-security" in response.headers) is hsts


def _app_showing_the_client(settings: Settings, **changes: str) -> FastAPI:
    """The app with one extra route that answers the client address and scheme it sees."""
    app = create_app(load_settings(**(dict(settings) | changes)))

    @app.get("/test/client")
    async def client(request: Request) -> dict[str, str]:
        host = request.client.host if request.client else ""
        return {"host": host, "scheme": request.url.scheme}

    return app


async def _seen(app: FastAPI, peer: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://galley.test") as http:
        return await http.get("/test/client", headers=headers)


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "client"),
    [
        ("127.0.0.1", "127.0.0.1", "203.0.113.7", "203.0.113.7"),
        # Each proxy appends the address it saw: the client is the last one not trusted.
        ("10.0.0.0/8", "10.0.0.2", "198.51.100.9, 203.0.113.7, 10.0.0.1", "203.0.113.7"),
        ("", "127.0.0.1", "203.0.113.7", "127.0.0.1"),
        ("10.0.0.0/8", "192.0.2.1", "203.0.113.7", "192.0.2.1"),
    ],
)
async def test_forwarded_headers_count_only_from_a_trusted_proxy(
    settings: Settings, trusted: str, peer: str, forwarded_for: str, client: str
) -> None:
    app = _app_showing_the_client(settings, trusted_proxies=trusted)
    response = await _seen(
        app, peer, {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"}
    )
    await app.state.engine.dispose()

    believed = client != peer
    assert response.json() == {"host": client, "scheme": "https" if believed else "http"}
    assert ("strict-transport-security" in response.headers) is believed


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }


@pytest.fixture
async def shop_front(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API with one allowed browser origin."""
    app = create_app(load_settings(**(dict(settings) | {"cors_origins": SHOP})))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://galley.test"
    ) as http:
        yield http
    await app.state.engine.dispose()


async def test_a_preflight_from_an_allowed_origin_is_answered(
    shop_front: httpx.AsyncClient,
) -> None:
    response = await shop_front.options("/v1/orders", headers=_preflight(SHOP))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SHOP
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key", "if-match"} <= {
        name.strip() for name in allowed.split(",")
    }
    # The preflight answer passed through RequestContext like any other.
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_allowed_origin_may_read_the_headers_the_api_uses(
    shop_front: httpx.AsyncClient,
) -> None:
    response = await shop_front.get("/v1/products", headers={"Origin": SHOP})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SHOP
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "location", "retry-after", "x-request-id", "idempotent-replayed"} <= exposed


async def test_another_origin_gets_no_cors_headers(shop_front: httpx.AsyncClient) -> None:
    preflight = await shop_front.options("/v1/orders", headers=_preflight("https://evil.example"))
    simple = await shop_front.get("/v1/products", headers={"Origin": "https://evil.example"})

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_without_allowed_origins_there_are_no_cors_headers_at_all(
    settings: Settings,
) -> None:
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://galley.test"
    ) as http:
        preflight = await http.options("/v1/orders", headers=_preflight(SHOP))
        simple = await http.get("/v1/products", headers={"Origin": SHOP})
    await app.state.engine.dispose()

    for response in (preflight, simple):
        assert not [name for name in response.headers if name.startswith("access-control-")]
