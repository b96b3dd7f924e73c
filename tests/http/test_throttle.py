"""Rate limits: failed log-ins, sign-ups, orders and every caller's requests, in memory
and shared through Redis by several processes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from galley.app import create_app
from galley.config import SettingsError, load_settings
from galley.config_values import parse_rate
from galley.http.throttle import LocalStorage, budget_key, retry_after
from tests import shop
from tests.auth import api_key
from tests.live import TLS, running_server
from tests.services import REDIS_URL, own_redis, redis_key_prefix

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
HERE, THERE = "198.51.100.7", "203.0.113.9"

Client = Callable[..., httpx.AsyncClient]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Where the budgets are kept: the app's memory, or Redis under this test's own prefix."""
    if request.param == "memory":
        yield {}
        return
    with redis_key_prefix() as prefix:
        yield {"redis_url": REDIS_URL, "redis_key_prefix": prefix}


@asynccontextmanager
async def galley(database_url: str, **settings: str) -> AsyncIterator[Client]:
    """An app with these settings; `client(address, token)` calls it from that address."""
    app = create_app(load_settings(database_url=database_url, log_level="WARNING", **settings))
    opened: list[httpx.AsyncClient] = []

    def client(address: str = HERE, token: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        opened.append(httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers))
        return opened[-1]

    try:
        yield client
    finally:
        for http in opened:
            await http.aclose()
        await app.state.throttle.close()
        await app.state.engine.dispose()


async def _count(database_url: str, table: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar())
    finally:
        await engine.dispose()


async def _sign_up(http: httpx.AsyncClient, email: str) -> None:
    response = await http.post("/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text


async def _log_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post("/v1/auth/token", json={"email": email, "password": password})


def _assert_rate_limited(response: httpx.Response, at_most: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= at_most
    problem = response.json()
    assert problem["type"] == "https://galley.dev/problems/rate-limited"
    assert problem["status"] == 429
    assert f"{response.headers['retry-after']} s" in problem["detail"]


# Rules


@pytest.mark.parametrize(
    ("reset_at", "now", "seconds"),
    [(100.0, 0.0, 100), (100.0, 99.2, 1), (100.0, 100.0, 1), (100.0, 140.0, 1), (10.5, 0.0, 11)],
)
def test_retry_after_is_whole_seconds_rounded_up_and_never_zero(
    reset_at: float, now: float, seconds: int
) -> None:
    assert retry_after(reset_at, now) == seconds


def test_anonymous_callers_spend_their_address_budget_and_everyone_else_their_own() -> None:
    assert budget_key("anonymous", HERE) == f"address:{HERE}"
    assert budget_key("user:7", HERE) == budget_key("user:7", THERE) == "user:7"
    assert budget_key("api_key:abc", HERE) == "api_key:abc"


@pytest.mark.parametrize("value", ["5/15 minutes", "10/hour", "1200/minute", "3 per day"])
def test_a_rate_is_a_number_per_period(value: str) -> None:
    assert parse_rate(value).amount >= 1


@pytest.mark.parametrize(
    "value", ["", "lots", "0/minute", "10/0 minutes", "1/second;5/minute", "10/fortnight"]
)
def test_a_malformed_rate_stops_start_up_naming_the_setting(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(rate_limit_orders=value)
    assert str(raised.value).startswith("invalid setting GALLEY_RATE_LIMIT_ORDERS: ")
    assert "\n" not in str(raised.value)


def test_a_redis_url_must_name_redis() -> None:
    with pytest.raises(SettingsError, match="GALLEY_REDIS_URL"):
        load_settings(redis_url="http://127.0.0.1:6379")


# Log-ins


async def test_five_failed_log_ins_refuse_the_sixth_even_with_the_right_password(
    database_url: str, store: dict[str, str]
) -> None:
    async with galley(database_url, **store) as client:
        here = client(HERE)
        await _sign_up(here, "ada@example.com")
        # However the address is written, it is one account.
        spellings = ["ada@example.com", "Ada@Example.com", "ADA@EXAMPLE.COM"]
        for email in spellings + spellings[:2]:
            assert (await _log_in(here, email, WRONG)).status_code == 401

        refused = await _log_in(here, "ada@example.com")
        _assert_rate_limited(refused, at_most=15 * 60)
        assert int(refused.headers["retry-after"]) > 15 * 60 - 30
        assert await _count(database_url, "refresh_tokens") == 0

        # Another address, and another account from this address, still log in.
        assert (await _log_in(client(THERE), "ada@example.com")).status_code == 200
        await _sign_up(client(THERE), "bob@example.com")
        assert (await _log_in(here, "bob@example.com")).status_code == 200
        assert (await _log_in(here, "ada@example.com")).status_code == 429


async def test_a_successful_log_in_forgets_the_failures_before_it(
    database_url: str, store: dict[str, str]
) -> None:
    async with galley(database_url, **store) as client:
        here = client(HERE)
        await _sign_up(here, "cy@example.com")
        for _ in range(4):
            assert (await _log_in(here, "cy@example.com", WRONG)).status_code == 401
        for _ in range(3):
            assert (await _log_in(here, "cy@example.com")).status_code == 200
        for _ in range(5):
            assert (await _log_in(here, "cy@example.com", WRONG)).status_code == 401
        _assert_rate_limited(await _log_in(here, "cy@example.com", WRONG), at_most=15 * 60)


# Sign-ups


async def test_sign_ups_beyond_the_budget_of_an_address_are_refused_and_write_nothing(
    database_url: str, store: dict[str, str]
) -> None:
    async with galley(database_url, rate_limit_signups="2/hour", **store) as client:
        here = client(HERE)
        await _sign_up(here, "one@example.com")
        await _sign_up(here, "two@example.com")
        refused = await here.post(
            "/v1/auth/register", json={"email": "three@example.com", "password": PASSWORD}
        )
        _assert_rate_limited(refused, at_most=3600)
        assert await _count(database_url, "users") == 2

        await _sign_up(client(THERE), "three@example.com")
        assert await _count(database_url, "users") == 3


# Every request


async def test_a_key_over_its_request_budget_is_refused_while_another_key_is_not(
    database_url: str, store: dict[str, str]
) -> None:
    # A day-long window: the budget cannot refill while the test runs.
    async with galley(database_url, rate_limit_requests="3/day", **store) as client:
        secret = await api_key(database_url, "staff")
        busy = client(HERE, secret)
        other = client(HERE, await api_key(database_url, "staff"))
        for _ in range(3):
            assert (await busy.get("/v1/me")).status_code == 200
        _assert_rate_limited(await busy.get("/v1/me"), at_most=24 * 3600)
        # Refused before the body is read or anything is written.
        refused = await busy.post("/v1/locations", json={"code": "K", "name": "Kitchen"})
        assert refused.status_code == 429
        assert await _count(database_url, "locations") == 0

        assert (await other.get("/v1/me")).status_code == 200
        # The budget is the key's, wherever it calls from.
        assert (await client(THERE, secret).get("/v1/me")).status_code == 429


async def test_callers_without_credentials_share_the_budget_of_their_address(
    database_url: str, store: dict[str, str]
) -> None:
    async with galley(database_url, rate_limit_requests="3/day", **store) as client:
        here = client(HERE)
        for _ in range(3):
            assert (await here.get("/v1/products")).status_code == 200
        _assert_rate_limited(await here.get("/v1/products"), at_most=24 * 3600)
        _assert_rate_limited(await _log_in(here, "nobody@example.com"), at_most=24 * 3600)
        # A forged token does not buy a fresh budget.
        assert (await client(HERE, "not.a.token").get("/v1/products")).status_code == 429

        assert (await client(THERE).get("/v1/products")).status_code == 200
        # The operations endpoints answer probes whatever the budgets.
        assert (await here.get("/readyz")).status_code == 200
        assert (await here.get("/healthz")).status_code == 200


def test_every_v1_operation_documents_429() -> None:
    spec = create_app(load_settings(database_url="sqlite+aiosqlite:///:memory:")).openapi()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        if path.startswith("/v1/")
        for method, operation in operations.items()
        if "429" not in operation["responses"]
    ]
    assert missing == []


# Orders


async def test_a_customer_over_the_order_budget_is_refused_and_staff_are_not(
    database_url: str, store: dict[str, str]
) -> None:
    async with galley(database_url, rate_limit_orders="2/minute", **store) as client:
        admin = client(HERE, await api_key(database_url))
        staff = client(HERE, await api_key(database_url, "staff"))
        await shop.location(admin)
        await shop.product(admin, "TEA")
        await shop.stock(admin, "TEA", 100)
        await _sign_up(client(HERE), "dee@example.com")
        token = (await _log_in(client(HERE), "dee@example.com")).json()["access_token"]
        customer = client(HERE, token)

        await shop.order(customer, ("TEA", 1))
        await shop.order(customer, ("TEA", 1))
        before = await shop.everything(admin)
        refused = await customer.post(
            "/v1/orders", json={"location": "KITCHEN", "lines": [{"sku": "TEA", "quantity": 1}]}
        )
        _assert_rate_limited(refused, at_most=60)
        assert await shop.everything(admin) == before

        for _ in range(3):
            await shop.order(staff, ("TEA", 1))
            await shop.order(admin, ("TEA", 1))
        assert len((await admin.get("/v1/orders")).json()["data"]) == 8


# Redis


async def test_when_redis_is_down_requests_still_go_through_and_readyz_names_it(
    database_url: str,
) -> None:
    async with galley(database_url, redis_url="redis://127.0.0.1:1/0") as client:
        here = client(HERE)
        assert (await here.get("/v1/products")).status_code == 200
        ready = await here.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["down"] == ["redis"]
    assert ready.json()["detail"] == "Redis does not answer."


async def test_while_redis_is_down_each_process_still_limits_password_guessing(
    database_url: str,
) -> None:
    async with galley(database_url, redis_url="redis://127.0.0.1:1/0") as client:
        here = client(HERE)
        await _sign_up(here, "dot@example.com")
        answers = [(await _log_in(here, "dot@example.com", WRONG)).status_code for _ in range(6)]
    assert answers == [401] * 5 + [429]


async def test_readyz_answers_when_redis_does(database_url: str) -> None:
    with redis_key_prefix() as prefix:
        async with galley(database_url, redis_url=REDIS_URL, redis_key_prefix=prefix) as client:
            assert (await client(HERE).get("/readyz")).status_code == 200


@pytest.mark.slow
async def test_two_processes_sharing_redis_spend_one_request_budget(database_url: str) -> None:
    key = await api_key(database_url)
    with redis_key_prefix() as prefix:
        env = {
            "GALLEY_REDIS_URL": REDIS_URL,
            "GALLEY_REDIS_KEY_PREFIX": prefix,
            "GALLEY_RATE_LIMIT_REQUESTS": "6/day",
        }
        with (
            running_server(database_url, env=env) as first,
            running_server(database_url, env=env) as second,
        ):
            statuses = []
            for n in range(8):
                base = (first, second)[n % 2]
                async with httpx.AsyncClient(verify=TLS, base_url=base) as http:
                    response = await http.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
                statuses.append(response.status_code)
    # Each process saw 3 of the 6 allowed; on its own each would have let 3 more through.
    assert statuses == [200] * 6 + [429] * 2


@pytest.mark.slow
async def test_two_processes_sharing_redis_count_failed_log_ins_together(
    database_url: str,
) -> None:
    with redis_key_prefix() as prefix:
        env = {"GALLEY_REDIS_URL": REDIS_URL, "GALLEY_REDIS_KEY_PREFIX": prefix}
        with (
            running_server(database_url, env=env) as first,
            running_server(database_url, env=env) as second,
        ):
            async with (
                httpx.AsyncClient(verify=TLS, base_url=first) as one,
                httpx.AsyncClient(verify=TLS, base_url=second) as two,
            ):
                await _sign_up(one, "eve@example.com")
                for n in range(5):
                    wrong = await _log_in((one, two)[n % 2], "eve@example.com", WRONG)
                    assert wrong.status_code == 401
                # Three failures on one, two on the other: on its own neither is at five.
                _assert_rate_limited(await _log_in(one, "eve@example.com"), at_most=15 * 60)
                _assert_rate_limited(await _log_in(two, "eve@example.com"), at_most=15 * 60)


async def test_the_in_process_store_sweeps_expired_hits_once_a_second_without_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """limits' own sweeps every key after each hit, a thread hop per key; Galley's sweeps
    at most once a second, in the event loop, and a window still counts only its hits."""

    def no_thread(*_: Any) -> None:
        raise AssertionError("the sweep went to a thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    storage = LocalStorage()
    sweeps = 0
    sweep = storage._sweep

    def counted(now: float) -> None:
        nonlocal sweeps
        sweeps += 1
        sweep(now)

    monkeypatch.setattr(storage, "_sweep", counted)
    limiter = MovingWindowRateLimiter(storage)
    rate = parse("5/second")
    for who in ("a", "b", "c"):
        await limiter.hit(rate, "login", who)
    await limiter.clear(rate, "login", "b")
    assert (await limiter.get_window_stats(rate, "login", "b")).remaining == 5
    assert (await limiter.get_window_stats(rate, "login", "a")).remaining == 4
    assert sweeps == 0

    await asyncio.sleep(LocalStorage.SWEEP_SECONDS + 0.05)  # a and c have expired
    for _ in range(3):
        await limiter.hit(rate, "login", "d")
    assert sweeps == 1
    assert [key for key in storage.events if "/a/" in key or "/c/" in key] == []
    assert len(storage.events) == 1
    assert (await limiter.get_window_stats(rate, "login", "d")).remaining == 2
    assert (await limiter.get_window_stats(rate, "login", "a")).remaining == 5


async def test_a_redis_that_hangs_costs_requests_one_timeout_a_second_not_one_each(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Redis that takes connections and answers nothing (stopped with SIGSTOP): requests
    go on, the budgets in memory, and it is asked again a second later, not on every
    request; each of its users says so once, naming the host and the cause."""
    with own_redis() as (url, server):
        async with galley(database_url, redis_url=url, log_format="json") as client:
            admin = client(HERE, await api_key(database_url))
            await shop.product(admin, "TEA")
            server.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                answers = [(await admin.get("/v1/products/TEA")).status_code for _ in range(20)]
                took = time.monotonic() - started
            finally:
                server.send_signal(signal.SIGCONT)
    assert answers == [200] * 20
    assert took < 4, f"20 reads took {took:.1f} s"
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line[:1] == "{"]
    host = url.removeprefix("redis://").removesuffix("/0")
    down = {e["event"]: e for e in events if e["event"].endswith("unavailable")}
    assert down.keys() == {"rate_limit.storage_unavailable", "catalog_cache.redis_unavailable"}
    assert {e["host"] for e in down.values()} == {host}
    assert all("Timeout" in e["error"] for e in down.values())
