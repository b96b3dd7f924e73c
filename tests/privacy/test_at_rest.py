"""Personal data is sealed in the database, rotates to a new key, and needs its keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from galley import migrate
from galley.app import create_app
from galley.cli import app as cli
from galley.config import SettingsError, load_settings
from galley.db import Database
from galley.models import Base
from galley.privacy.keys import data_keys
from galley.resealing import reseal, rows_to_reseal
from tests import shop
from tests.auth import NEXT_DATA_KEY, TEST_DATA_KEYS
from tests.services import blocking

PASSWORD = "correct horse battery"
GRACE = {
    "email": "grace.hopper@example.com",
    "name": "Grace Brewster Hopper",
    "phone": "+1 202 555 0143",
}
DELIVERY = {
    "name": "Grace Hopper",
    "phone": "+1 202 555 0199",
    "address": "1 Harbour Row, Arlington",
}
PLAIN_TEXTS = [
    "grace.hopper",
    "Grace",
    "Hopper",
    "555 0143",
    "555 0199",
    "Harbour Row",
    "Arlington",
]
ROTATED = f"{NEXT_DATA_KEY},{TEST_DATA_KEYS}"
runner = CliRunner()


async def _customer_with_an_order(client: httpx.AsyncClient) -> dict[str, Any]:
    await shop.location(client)
    await shop.product(client, "TEA")
    await shop.stock(client, "TEA", 5)
    anonymous = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    # Answers kept for replay hold the same data: sent with Idempotency-Keys, so they are.
    registered = await anonymous.post(
        "/v1/auth/register",
        json={**GRACE, "password": PASSWORD},
        headers={"Idempotency-Key": "sign-up-1"},
    )
    assert registered.status_code == 201, registered.text
    token = await _log_in(anonymous)
    placed = await anonymous.post(
        "/v1/orders",
        json={
            "location": "KITCHEN",
            "lines": [{"sku": "TEA", "quantity": 1}],
            "delivery": DELIVERY,
        },
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "order-1"},
    )
    assert placed.status_code == 201, placed.text
    return dict(placed.json())


async def _log_in(anonymous: httpx.AsyncClient) -> str:
    response = await anonymous.post(
        "/v1/auth/token", json={"email": GRACE["email"].upper(), "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def _every_stored_value(database_url: str) -> str:
    """Every row of every table, as one text to search."""
    engine = create_async_engine(database_url)
    dumped = []
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = (await connection.execute(select(table))).all()
            dumped.extend(repr(tuple(row)) for row in rows)
    await engine.dispose()
    return "\n".join(dumped)


async def _sealed_columns(database_url: str) -> list[str]:
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        users = (await connection.execute(text("SELECT email, name, phone FROM users"))).all()
        orders = (
            await connection.execute(text("SELECT delivery FROM orders WHERE delivery IS NOT NULL"))
        ).all()
        answers = (
            await connection.execute(
                text("SELECT response_body FROM idempotency_keys WHERE response_body IS NOT NULL")
            )
        ).all()
    await engine.dispose()
    return [value for row in [*users, *orders, *answers] for value in row if value is not None]


@pytest.fixture
async def app_client(database_url: str) -> AsyncIterator[Any]:
    """An app on the test database with a chosen data-key ring."""
    apps = []

    def make(data_keys: str) -> httpx.AsyncClient:
        app = create_app(load_settings(database_url=database_url, data_keys=data_keys))
        apps.append(app)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://galley.test"
        )

    yield make
    for app in apps:
        await app.state.engine.dispose()


async def test_the_raw_rows_hold_no_personal_data_in_plain_text(
    client: httpx.AsyncClient, database_url: str
) -> None:
    order = await _customer_with_an_order(client)

    assert order["delivery"] == DELIVERY
    stored = await _every_stored_value(database_url)
    assert "data1:" in stored
    for plain in PLAIN_TEXTS:
        assert plain.lower() not in stored.lower(), plain


async def test_rotating_the_data_keys_reseals_every_row_and_reads_it_back(
    client: httpx.AsyncClient, database_url: str, app_client: Any
) -> None:
    order = await _customer_with_an_order(client)
    before = await _sealed_columns(database_url)
    assert before
    assert all(value.startswith("data1:") for value in before)

    result = blocking(
        lambda: runner.invoke(
            cli,
            ["keys", "rotate", "--batch", "1"],
            env={"GALLEY_DATABASE_URL": database_url, "GALLEY_DATA_KEYS": ROTATED},
        )
    )
    assert result.exit_code == 0, result.output
    assert "4 rows re-sealed" in result.output  # the account, the order, two stored answers

    after = await _sealed_columns(database_url)
    assert len(after) == len(before)
    assert all(value.startswith("data2:") for value in after)
    # The old key can go: everything reads back, and the e-mail still finds the account.
    new_only = app_client(NEXT_DATA_KEY)
    token = await _log_in(new_only)
    me = await new_only.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert {k: me.json()[k] for k in GRACE} == GRACE
    again = await new_only.get(
        f"/v1/orders/{order['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert again.json()["delivery"] == DELIVERY
    rotations = await client.get("/v1/audit-events", params={"kind": "data_keys.rotated"})
    assert [e["data"] for e in rotations.json()["data"]] == [{"rows": 4, "key": "data2"}]


async def test_a_rotation_stopped_part_way_finishes_when_run_again(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await _customer_with_an_order(client)
    database = Database(load_settings(database_url=database_url, data_keys=ROTATED))
    try:
        assert await rows_to_reseal(database) == 4
        async for done in reseal(database, batch=1):
            assert done == 1
            break  # the operator pressed Ctrl-C
        assert await rows_to_reseal(database) == 3
        assert sum([n async for n in reseal(database)]) == 3
        assert sum([n async for n in reseal(database)]) == 0
        assert await rows_to_reseal(database) == 0
    finally:
        await database.dispose()


def test_the_app_does_not_start_without_data_keys(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db", data_keys="")
    with pytest.raises(SettingsError, match="GALLEY_DATA_KEYS: missing"):
        create_app(settings)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "GALLEY_DATA_KEYS: missing"),
        ("k1:c2hvcnQ", "invalid setting GALLEY_DATA_KEYS"),
        ("no secret", "invalid setting GALLEY_DATA_KEYS"),
    ],
)
def test_serve_stops_on_missing_or_malformed_data_keys(
    tmp_path: Path, value: str, message: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/g.db"
    assert runner.invoke(cli, ["migrate"], env={"GALLEY_DATABASE_URL": url}).exit_code == 0
    result = runner.invoke(
        cli, ["serve"], env={"GALLEY_DATABASE_URL": url, "GALLEY_DATA_KEYS": value}
    )
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert message in line


def test_accounts_made_before_sealing_are_sealed_by_the_migration(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    settings = load_settings(database_url=url)
    command.upgrade(migrate.alembic_config(settings), "0003")
    _run_sql(
        url,
        "INSERT INTO users (email, password_hash, role, disabled, created_at, updated_at) "
        "VALUES ('old@example.com', 'x', 'admin', false, '2026-11-20', '2026-11-20')",
    )

    refused = runner.invoke(
        cli, ["migrate"], env={"GALLEY_DATABASE_URL": url, "GALLEY_DATA_KEYS": ""}
    )
    assert refused.exit_code != 0
    assert "set GALLEY_DATA_KEYS" in str(refused.exception) + refused.output

    migrate.upgrade(settings)
    (email, index) = blocking(lambda: _first_user(url))
    assert email.startswith("data1:")
    assert "old@example.com" not in email + index


def test_answers_kept_before_sealing_are_sealed_by_the_migration(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    settings = load_settings(database_url=url)
    command.upgrade(migrate.alembic_config(settings), "0006")
    _run_sql(
        url,
        "INSERT INTO idempotency_keys (caller, key, fingerprint, claimed_at, status_code, "
        "response_body) VALUES ('user:1', 'k', 'f', '2026-11-20', 201, "
        """'{"email": "old@example.com"}')""",
    )

    migrate.upgrade(settings)

    body = blocking(lambda: _scalar(url, "SELECT response_body FROM idempotency_keys"))
    assert body.startswith("data1:")
    assert "old@example.com" not in body


async def _scalar(url: str, sql: str) -> str:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        value = (await connection.execute(text(sql))).scalar_one()
    await engine.dispose()
    return str(value)


def _run_sql(url: str, sql: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text(sql))
        await engine.dispose()

    blocking(run)


async def _first_user(url: str) -> tuple[str, str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        row = (await connection.execute(text("SELECT email, email_index FROM users"))).one()
    await engine.dispose()
    return row[0], row[1]


def test_suppliers_with_a_webhook_before_signing_get_a_sealed_secret(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    settings = load_settings(database_url=url)
    command.upgrade(migrate.alembic_config(settings), "0007")
    _run_sql(
        url,
        "INSERT INTO suppliers (name, webhook_url, lead_time_days, currency, auto_send, "
        "created_at, updated_at) VALUES ('Mill', 'https://mill.example/po', 2, 'EUR', false, "
        "'2026-11-20', '2026-11-20')",
    )

    refused = runner.invoke(
        cli, ["migrate"], env={"GALLEY_DATABASE_URL": url, "GALLEY_DATA_KEYS": ""}
    )
    assert refused.exit_code != 0
    assert "set GALLEY_DATA_KEYS" in str(refused.exception) + refused.output

    migrate.upgrade(settings)
    secret = blocking(lambda: _scalar(url, "SELECT webhook_secret FROM suppliers"))
    assert secret.startswith("data1:")
    assert (
        data_keys(settings.data_keys)
        .unseal(secret, "suppliers.webhook_secret")
        .startswith("whsec_")
    )
