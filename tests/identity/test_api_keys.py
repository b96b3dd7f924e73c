"""API keys: never a customer; a role of staff or above, or scopes; never more than their maker;
and a user's role or disabling counts from the next request, whatever the token says."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from galley import migrate
from galley.app import create_app
from galley.cli import app as cli
from galley.config import load_settings
from galley.identity.credentials import issue_access_token
from tests import shop
from tests.auth import api_key, bearer
from tests.live import TLS, running_server
from tests.services import blocking

PASSWORD = "correct horse battery staple"
runner = CliRunner()


def _as(client: httpx.AsyncClient, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=client._transport, base_url=str(client.base_url), headers=bearer(secret)
    )


async def _keys(client: httpx.AsyncClient) -> list[str]:
    listed = await client.get("/v1/api-keys")
    assert listed.status_code == 200, listed.text
    return [key["id"] for key in listed.json()]


async def test_a_key_is_never_given_the_customer_role_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    before = await _keys(client)
    for body in (
        {"name": "shop", "role": "customer"},
        {"name": "shop"},
        {"name": "shop", "role": "staff", "scopes": ["catalog:read"]},
        {"name": "shop", "scopes": []},
        {"name": "shop", "scopes": ["orders:everything"]},
    ):
        refused = await client.post("/v1/api-keys", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    assert await _keys(client) == before


def test_the_command_line_refuses_a_customer_key(tmp_path: Path, sqlite_template: Path) -> None:
    shutil.copy(sqlite_template, tmp_path / "galley.db")
    env = {"GALLEY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/galley.db"}
    refused = runner.invoke(
        cli, ["api-keys", "create", "--name", "shop", "--role", "customer"], env=env
    )
    assert refused.exit_code == 2
    assert "a key is never a customer" in refused.output
    made = runner.invoke(
        cli,
        [
            "api-keys",
            "create",
            "--name",
            "shop",
            "--scope",
            "catalog:read",
            "--scope",
            "orders:place",
        ],
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith("gk_live_")  # the key alone on stdout; logs go to stderr


async def test_a_restricted_key_does_exactly_what_its_scopes_say(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "TEA")
    await shop.stock(client, "TEA", 5)
    made = await client.post(
        "/v1/api-keys", json={"name": "web shop", "scopes": ["orders:place", "catalog:read"]}
    )
    assert made.status_code == 201, made.text
    assert made.json()["role"] is None
    assert made.json()["scopes"] == ["catalog:read", "orders:place"]
    front_end = _as(client, made.json()["secret"])
    assert (await front_end.get("/v1/products")).status_code == 200
    placed = await front_end.post(
        "/v1/orders", json={"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}
    )
    assert placed.status_code == 201, placed.text
    for path in ("/v1/orders", f"/v1/orders/{placed.json()['id']}", "/v1/stock"):
        assert (await front_end.get(path)).status_code == 403, path
    cancel = await front_end.post(f"/v1/orders/{placed.json()['id']}/cancel")
    assert cancel.status_code == 403
    assert (await front_end.get("/v1/me")).status_code == 403
    reader = await client.post("/v1/api-keys", json={"name": "me", "scopes": ["account:read"]})
    me = (await _as(client, reader.json()["secret"]).get("/v1/me")).json()
    assert (me["kind"], me["role"], me["scopes"]) == ("api_key", None, ["account:read"])


async def test_a_key_never_gets_more_than_its_maker_holds(client: httpx.AsyncClient) -> None:
    maker = await client.post(
        "/v1/api-keys", json={"name": "provisioner", "scopes": ["api_keys:manage", "catalog:read"]}
    )
    provisioner = _as(client, maker.json()["secret"])
    before = await _keys(client)
    for body in (
        {"name": "escalated", "role": "admin"},
        {"name": "escalated", "scopes": ["catalog:read", "stock:adjust"]},
    ):
        refused = await provisioner.post("/v1/api-keys", json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/key-beyond-grantor")
    assert await _keys(client) == before
    narrower = await provisioner.post(
        "/v1/api-keys", json={"name": "reader", "scopes": ["catalog:read"]}
    )
    assert narrower.status_code == 201, narrower.text


async def _staff_member(client: httpx.AsyncClient, role: str) -> tuple[str, httpx.AsyncClient]:
    made = await client.post(
        "/v1/users", json={"email": f"{role}@example.com", "password": PASSWORD, "role": role}
    )
    assert made.status_code == 201, made.text
    keys = client._transport.app.state.settings.signing_keys  # type: ignore[attr-defined]
    token = issue_access_token(int(made.json()["id"]), role, keys, dt.timedelta(minutes=15))  # type: ignore[arg-type]
    return made.json()["id"], _as(client, token)


async def test_a_demoted_manager_cannot_adjust_stock_with_the_token_issued_before(
    client: httpx.AsyncClient,
) -> None:
    await shop.location(client)
    await shop.product(client, "TEA")
    user_id, manager = await _staff_member(client, "manager")
    adjustment = {"sku": "TEA", "location": "KITCHEN", "delta": 1, "reason": "count"}
    assert (await manager.post("/v1/stock/adjustments", json=adjustment)).status_code == 201
    demoted = await client.patch(f"/v1/users/{user_id}", json={"role": "staff"})
    assert demoted.status_code == 200, demoted.text
    refused = await manager.post("/v1/stock/adjustments", json=adjustment)
    assert refused.status_code == 403, refused.text
    assert (await manager.get("/v1/me")).json()["role"] == "staff"
    assert (await shop.level(client, "TEA"))["on_hand"] == 1


async def test_a_disabled_account_is_refused_on_the_next_request(client: httpx.AsyncClient) -> None:
    user_id, staff = await _staff_member(client, "staff")
    assert (await staff.get("/v1/orders")).status_code == 200
    disabled = await client.patch(f"/v1/users/{user_id}", json={"disabled": True})
    assert disabled.status_code == 200, disabled.text
    refused = await staff.get("/v1/orders")
    assert refused.status_code == 401
    assert refused.json()["type"].endswith("/not-authenticated")


def test_customer_keys_made_before_become_front_end_keys(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    settings = load_settings(database_url=url)
    command.upgrade(migrate.alembic_config(settings), "0009")

    async def run(sql: str) -> list[Any]:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            found = await connection.execute(text(sql))
            rows = list(found) if found.returns_rows else []
        await engine.dispose()
        return rows

    blocking(
        lambda: run(
            "INSERT INTO api_keys (name, role, prefix, secret_hash, created_at) VALUES "
            "('shop', 'customer', 'gk_live_a', 'a', '2026-11-20'), "
            "('till', 'staff', 'gk_live_b', 'b', '2026-11-20')"
        )
    )
    migrate.upgrade(settings)
    rows = blocking(lambda: run("SELECT name, role, scopes FROM api_keys ORDER BY name"))
    assert [tuple(row) for row in rows] == [
        ("shop", None, '["catalog:read", "orders:place"]'),
        ("till", "staff", None),
    ]


async def test_a_key_revoked_through_one_process_is_refused_by_another_within_a_second(
    database_url: str,
) -> None:
    """Each process keeps a caller's key for GALLEY_PRINCIPAL_CACHE_SECONDS (1 s) at most."""
    admin = bearer(await api_key(database_url))
    target = await api_key(database_url, "staff")
    with running_server(database_url) as one, running_server(database_url) as other:
        async with (
            httpx.AsyncClient(verify=TLS, base_url=one, headers=admin) as revoker,
            httpx.AsyncClient(verify=TLS, base_url=other, headers=bearer(target)) as holder,
        ):
            assert (await holder.get("/v1/orders")).status_code == 200
            (listed,) = [
                k for k in (await revoker.get("/v1/api-keys")).json() if k["role"] == "staff"
            ]
            assert (await revoker.delete(f"/v1/api-keys/{listed['id']}")).status_code == 204
            revoked = time.monotonic()
            while (answer := await holder.get("/v1/orders")).status_code == 200:
                assert time.monotonic() - revoked < 1.5, "still served after the cache's second"
                await asyncio.sleep(0.05)
            assert answer.status_code == 401, answer.text


async def test_a_busy_key_s_use_is_noted_once_without_a_second_connection(
    database_url: str,
) -> None:
    """A key's first use in a while, by as many reads at once as the pool has connections
    and more: each request holds its one connection to the end, and the use is noted once,
    after a read's own transaction (a request that waited for a second connection while
    holding one would hold up every other, up to the pool's timeout)."""
    settings = load_settings(
        database_url=database_url, database_pool_size=2, database_pool_timeout_seconds=3
    )
    app = create_app(settings)
    noted: list[str] = []

    def spy(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            noted.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", spy)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://galley.test",
            headers=bearer(await api_key(database_url)),
        ) as client:
            started = time.monotonic()
            answers = await asyncio.gather(*(client.get("/v1/stock") for _ in range(8)))
            took = time.monotonic() - started
            keys = (await client.get("/v1/api-keys")).json()
    finally:
        await app.state.engine.dispose()
    assert [answer.status_code for answer in answers] == [200] * 8
    assert took < settings.database_pool_timeout_seconds
    assert len(noted) == 1
    (used,) = keys
    assert used["last_used_at"] is not None
