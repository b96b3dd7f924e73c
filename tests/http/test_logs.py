"""Logs carry no secrets and no personal data: a whole flow against a real server, searched."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from galley.identity.credentials import API_KEY_PREFIX
from galley.logs import REDACTED, configure_logging
from tests import shop
from tests.auth import api_key, bearer
from tests.live import TLS, running_server

EMAIL = "zelda.quartermaine@example.org"
PASSWORD = "tangerine zebra quill 4471"
WRONG_PASSWORD = "marmalade otter plume 9013"

# Personal data of a customer and an order: sent in the flow below, and every string in
# them is searched for in the log.
REGISTRATION_PROFILE: dict[str, Any] = {"name": "Zelda Quartermaine", "phone": "+31 20 555 0187"}
ORDER_PROFILE: dict[str, Any] = {
    "delivery": {
        "name": "Zelda Q. Quartermaine",
        "phone": "+31 20 555 0188",
        "address": "Prinsengracht 263, Amsterdam",
    }
}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


async def _full_flow(base: str, admin_key: str) -> list[str]:
    """Sign up, log in, refresh, order, log out, fail a log-in, make an API key: and return
    every secret and piece of personal data that crossed the wire."""
    async with (
        httpx.AsyncClient(verify=TLS, base_url=base, headers=bearer(admin_key)) as admin,
        httpx.AsyncClient(verify=TLS, base_url=base) as anonymous,
    ):
        await shop.location(admin)
        await shop.product(admin, "TEA")
        await shop.stock(admin, "TEA", 5)

        registration = {"email": EMAIL, "password": PASSWORD, **REGISTRATION_PROFILE}
        registered = await anonymous.post("/v1/auth/register", json=registration)
        assert registered.status_code == 201, registered.text
        credentials = {"email": EMAIL, "password": PASSWORD}
        first = await anonymous.post("/v1/auth/token", json=credentials)
        assert first.status_code == 200, first.text
        refresh = {"refresh_token": first.json()["refresh_token"]}
        second = await anonymous.post("/v1/auth/refresh", json=refresh)
        assert second.status_code == 200, second.text

        customer = bearer(second.json()["access_token"])
        me = await anonymous.get("/v1/me", headers=customer)
        assert me.json()["email"] == EMAIL
        order = {"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}
        placed = await anonymous.post("/v1/orders", json=order | ORDER_PROFILE, headers=customer)
        assert placed.status_code == 201, placed.text
        # A query string may carry anything a client puts there.
        mine = await anonymous.get("/v1/orders", params={"q": EMAIL}, headers=customer)
        assert mine.status_code == 200, mine.text
        logout = await anonymous.post(
            "/v1/auth/logout",
            json={"refresh_token": second.json()["refresh_token"]},
            headers=customer,
        )
        assert logout.status_code == 204, logout.text

        wrong = await anonymous.post(
            "/v1/auth/token", json={"email": EMAIL, "password": WRONG_PASSWORD}
        )
        assert wrong.status_code == 401

        created = await admin.post("/v1/api-keys", json={"name": "till", "role": "staff"})
        assert created.status_code == 201, created.text
        key = created.json()["secret"]
        assert (await anonymous.get("/v1/stock", headers=bearer(key))).status_code == 200

    secrets = [
        PASSWORD,
        WRONG_PASSWORD,
        EMAIL,
        EMAIL.split("@")[0],
        first.json()["access_token"],
        first.json()["refresh_token"],
        second.json()["access_token"],
        second.json()["refresh_token"],
    ]
    # A key's fixed prefix may be logged; nothing after it may.
    for secret in (admin_key, key):
        secrets += [secret, secret.removeprefix(API_KEY_PREFIX)]
    return [*secrets, *_strings(REGISTRATION_PROFILE), *_strings(ORDER_PROFILE)]


@pytest.mark.slow
async def test_a_full_flow_leaves_no_secret_or_personal_data_in_the_log(
    database_url: str, tmp_path: Path
) -> None:
    admin_key = await api_key(database_url)
    log_file = tmp_path / "galley.log"
    env = {"GALLEY_LOG_LEVEL": "INFO", "GALLEY_LOG_FORMAT": "json"}
    with running_server(database_url, env=env, log_file=log_file) as base:
        secrets = await _full_flow(base, admin_key)
    log = log_file.read_text()

    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = {line["path"] for line in lines if line["event"] == "http.request"}
    assert {"/v1/auth/register", "/v1/auth/token", "/v1/me", "/v1/orders"} <= requests
    assert "/v1/api-keys" in requests
    found = [secret for secret in secrets if secret.lower() in log.lower()]
    assert found == []


def test_sensitive_keys_and_shapes_are_redacted_whoever_logs_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    key = API_KEY_PREFIX + "s3cr3tKeyMaterial_-"
    structlog.get_logger("galley.test").info(
        "test.event",
        password="hunter2 hunter2",
        refresh_token="opaque-refresh-token",
        customer={"email": "ada@example.com", "phone": "+44 20 7946 0958"},
        note=f"ada@example.com sent Authorization: Bearer {token} and {key}",
        gateway="charged with sk_test_51GatewayKeyMaterial",
    )
    logging.getLogger("somelibrary").warning("retrying for %s", "bob@example.com")
    try:
        raise LookupError("no account for dave@example.com")
    except LookupError:
        logging.getLogger("somelibrary").exception("lookup failed")
    try:
        raise ValueError("duplicate key (email)=(carol@example.com)")
    except ValueError:
        structlog.get_logger("galley.test").exception("test.failed")

    log = capsys.readouterr().err
    for value in (
        "hunter2",
        "opaque-refresh-token",
        "ada@",
        "+44 20",
        token,
        "s3cr3tKeyMaterial",
        "GatewayKeyMaterial",
        "bob@",
        "carol@",
        "dave@",
    ):
        assert value not in log
    # Only this test's lines: others' late lines (a closing pool, say) may share the capture.
    (first,) = [json.loads(line) for line in log.splitlines() if '"test.event"' in line]
    assert first["password"] == first["refresh_token"] == REDACTED
    assert first["customer"] == {"email": REDACTED, "phone": REDACTED}
    assert first["gateway"] == f"charged with sk_test_{REDACTED}"
    assert first["note"] == (
        f"{REDACTED} sent Authorization: Bearer {REDACTED} and {API_KEY_PREFIX}{REDACTED}"
    )
    assert "ValueError" in log
    assert "LookupError" in log
