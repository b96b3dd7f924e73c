"""Catalog reads cached: never older than GALLEY_CACHE_MAX_STALENESS_MS after a change, in
any process; computed once however many ask at once; 304 for a known ETag; Redis going
away costs nothing but the sharing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import text

from galley.app import create_app
from galley.catalog import service
from galley.catalog.cache import CatalogCache
from galley.config import Settings, load_settings
from galley.db import Database
from galley.http.etags import Tagged
from tests import shop
from tests.auth import api_key, bearer
from tests.live import TLS, running_server
from tests.services import REDIS_URL, own_redis, redis_key_prefix


@asynccontextmanager
async def shop_front(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """One app, and two callers of it: an administrator and a shopper without credentials."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    admin = bearer(await api_key(settings.database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://galley.test", headers=admin) as a,
        httpx.AsyncClient(transport=transport, base_url="http://galley.test") as shopper,
    ):
        yield a, shopper


async def name_of(client: httpx.AsyncClient, sku: str) -> str:
    response = await client.get(f"/v1/products/{sku}")
    assert response.status_code == 200, response.text
    return str(response.json()["name"])


async def rename(client: httpx.AsyncClient, sku: str, name: str) -> None:
    response = await client.patch(f"/v1/products/{sku}", json={"name": name})
    assert response.status_code == 200, response.text


def counting(monkeypatch: pytest.MonkeyPatch, name: str, pause: float = 0) -> list[tuple[Any, ...]]:
    """Calls of the catalog service's `name`, each held up `pause` seconds."""
    calls: list[tuple[Any, ...]] = []
    original: Callable[..., Awaitable[Any]] = getattr(service, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        await asyncio.sleep(pause)
        return await original(*args, **kwargs)

    monkeypatch.setattr(service, name, counted)
    return calls


# ---- in one process ---------------------------------------------------------------------


async def test_a_shopper_s_read_answers_304_to_its_etag_and_may_be_kept_for_the_bound(
    settings: Settings,
) -> None:
    async with shop_front(settings) as (admin, shopper):
        await shop.product(admin, "TEA")
        for path in ("/v1/products/TEA", "/v1/products"):
            first = await shopper.get(path)
            again = await shopper.get(path, headers={"If-None-Match": first.headers["etag"]})

            assert first.status_code == 200
            assert first.headers["cache-control"] == "public, max-age=1"
            assert first.headers["vary"] == "Authorization"
            assert again.status_code == 304
            assert again.content == b""
            assert {h: again.headers[h] for h in ("etag", "cache-control", "vary")} == {
                h: first.headers[h] for h in ("etag", "cache-control", "vary")
            }


async def test_an_editor_s_read_is_kept_by_no_cache_but_still_answers_304(
    settings: Settings,
) -> None:
    async with shop_front(settings) as (admin, _):
        await shop.product(admin, "TEA")
        first = await admin.get("/v1/products/TEA")
        again = await admin.get(
            "/v1/products/TEA", headers={"If-None-Match": first.headers["etag"]}
        )

    assert first.headers["cache-control"] == "no-store"
    assert again.status_code == 304


async def test_a_change_is_read_at_once_in_the_process_that_made_it(settings: Settings) -> None:
    async with shop_front(settings) as (admin, shopper):
        await shop.product(admin, "TEA")
        before = await shopper.get("/v1/products/TEA")
        assert (await shopper.get("/v1/products")).json()["data"][0]["name"] == "Product TEA"

        await rename(admin, "TEA", "Green tea")
        after = await shopper.get(
            "/v1/products/TEA", headers={"If-None-Match": before.headers["etag"]}
        )
        page = await shopper.get("/v1/products")
        await shop.product(admin, "COFFEE")
        grown = await shopper.get("/v1/products")
        assert (await admin.delete("/v1/products/COFFEE")).status_code == 204
        gone = await shopper.get("/v1/products/COFFEE")

    assert after.status_code == 200
    assert after.json()["name"] == "Green tea"
    assert after.headers["etag"] != before.headers["etag"]
    assert [p["name"] for p in page.json()["data"]] == ["Green tea"]
    assert [p["sku"] for p in grown.json()["data"]] == ["TEA", "COFFEE"]
    assert gone.status_code == 404


async def test_a_product_not_for_sale_that_an_editor_read_stays_hidden_from_shoppers(
    settings: Settings,
) -> None:
    async with shop_front(settings) as (admin, shopper):
        await shop.product(admin, "TEA")
        await shop.product(admin, "OLD", active=False)
        editor_sees = [
            (await admin.get("/v1/products/OLD")).status_code,
            [p["sku"] for p in (await admin.get("/v1/products")).json()["data"]],
            [p["sku"] for p in (await admin.get("/v1/products?active=true")).json()["data"]],
        ]
        shopper_sees = [
            (await shopper.get("/v1/products/OLD")).status_code,
            [p["sku"] for p in (await shopper.get("/v1/products")).json()["data"]],
            [p["sku"] for p in (await shopper.get("/v1/products?active=false")).json()["data"]],
        ]

    assert editor_sees == [200, ["TEA", "OLD"], ["TEA"]]
    assert shopper_sees == [404, ["TEA"], []]


async def test_64_concurrent_reads_of_a_cold_product_and_page_compute_each_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shop_front(settings) as (admin, shopper):
        await shop.product(admin, "TEA")
        products = counting(monkeypatch, "get_product", pause=0.2)
        pages = counting(monkeypatch, "list_products", pause=0.2)
        answers = await asyncio.gather(
            *(shopper.get("/v1/products/TEA") for _ in range(64)),
            *(shopper.get("/v1/products", params={"q": "tea"}) for _ in range(64)),
        )

    assert [r.status_code for r in answers] == [200] * 128
    assert len({r.headers["etag"] for r in answers[:64]}) == 1
    assert len({r.headers["etag"] for r in answers[64:]}) == 1
    assert (len(products), len(pages)) == (1, 1)


async def test_concurrent_reads_of_an_unknown_product_share_its_404_and_keep_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with shop_front(settings) as (admin, shopper):
        calls = counting(monkeypatch, "get_product", pause=0.2)
        missing = await asyncio.gather(*(shopper.get("/v1/products/TEA") for _ in range(16)))
        await shop.product(admin, "TEA")
        found = await shopper.get("/v1/products/TEA")

    assert [r.status_code for r in missing] == [404] * 16
    assert found.status_code == 200
    assert len(calls) == 2


async def test_reads_wait_for_another_computation_when_the_one_they_waited_for_is_cancelled() -> (
    None
):
    cache = CatalogCache.from_settings(load_settings())
    started = asyncio.Event()

    async def never() -> Tagged:
        started.set()
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    async def soon() -> Tagged:
        return Tagged(b"{}", '"e"')

    leader = asyncio.create_task(cache.read("k", never))
    await started.wait()
    follower = asyncio.create_task(cache.read("k", soon))
    await asyncio.sleep(0)
    leader.cancel()

    assert await follower == Tagged(b"{}", '"e"')
    assert leader.cancelled()


async def test_a_change_forgets_kept_reads_once_its_transaction_commits_and_not_if_it_rolls_back(
    settings: Settings,
) -> None:
    cache = CatalogCache.from_settings(settings)
    database = Database(settings)
    computed: list[int] = []

    async def compute() -> Tagged:
        computed.append(1)
        return Tagged(b"{}", f'"{len(computed)}"')

    async def changed(*, commit: bool) -> None:
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            cache.forget_after_commit(session)
            async with session.begin_nested():  # a savepoint released is no commit
                await session.execute(text("SELECT 1"))
            assert (await cache.read("k", compute)).etag == '"1"'
            if not commit:
                raise LookupError

    try:
        await cache.read("k", compute)
        with pytest.raises(LookupError):
            await changed(commit=False)
        kept = await cache.read("k", compute)
        await changed(commit=True)
        forgotten = await cache.read("k", compute)
    finally:
        await database.dispose()

    assert kept.etag == '"1"'
    assert forgotten.etag == '"2"'


# ---- in several processes ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("shared", ["in Redis", "in each process"])
async def test_a_change_through_one_process_is_read_through_another_within_the_bound(
    postgres_database: str, shared: str
) -> None:
    admin = bearer(await api_key(postgres_database))
    with redis_key_prefix() as prefix:
        env = {"GALLEY_REDIS_URL": REDIS_URL if shared == "in Redis" else ""}
        env |= {"GALLEY_REDIS_KEY_PREFIX": prefix}
        with (
            running_server(postgres_database, env=env) as one,
            running_server(postgres_database, env=env) as other,
        ):
            async with (
                httpx.AsyncClient(verify=TLS, base_url=one, headers=admin) as editor,
                httpx.AsyncClient(verify=TLS, base_url=other) as shopper,
            ):
                await shop.product(editor, "TEA")
                for _ in range(5):  # kept by the other process, and served from there
                    assert await name_of(shopper, "TEA") == "Product TEA"
                await rename(editor, "TEA", "Green tea")
                changed = time.monotonic()
                while await name_of(shopper, "TEA") != "Green tea":
                    assert time.monotonic() - changed < 1.5, "served past the bound (1 s)"
                    await asyncio.sleep(0.02)


async def test_with_redis_a_change_through_one_app_is_read_through_another_long_before_the_bound(
    database_url: str,
) -> None:
    """The bound here is a minute: only the generation a commit increments explains the
    other app seeing the change."""
    with redis_key_prefix() as prefix:
        settings = load_settings(
            database_url=database_url,
            redis_url=REDIS_URL,
            redis_key_prefix=prefix,
            cache_max_staleness_ms=60_000,
        )
        async with shop_front(settings) as (admin, _), shop_front(settings) as (_, shopper):
            await shop.product(admin, "TEA")
            assert await name_of(shopper, "TEA") == "Product TEA"
            await rename(admin, "TEA", "Green tea")
            changed = time.monotonic()
            while await name_of(shopper, "TEA") != "Green tea":
                assert time.monotonic() - changed < 1, "the other app kept its read"
                await asyncio.sleep(0.01)


# ---- Redis stopped ----------------------------------------------------------------------


async def test_reads_go_on_from_the_database_once_redis_is_stopped_with_one_log_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with own_redis() as (url, server):
        settings = load_settings(
            database_url=database_url, redis_url=url, log_format="json", log_level="INFO"
        )
        async with shop_front(settings) as (admin, shopper):
            await shop.product(admin, "TEA")
            assert await name_of(shopper, "TEA") == "Product TEA"
            with redis.Redis.from_url(url) as peek:
                kept = peek.keys("galley:catalog:read:*")
            server.kill()
            server.wait()
            while_down = [await shopper.get("/v1/products/TEA") for _ in range(20)]
            await rename(admin, "TEA", "Green tea")
            renamed = [await name_of(shopper, "TEA") for _ in range(5)]
            page = await shopper.get("/v1/products")

    assert len(kept) == 1
    assert [r.status_code for r in while_down] == [200] * 20
    assert {r.json()["name"] for r in while_down} == {"Product TEA"}
    assert renamed == ["Green tea"] * 5
    assert page.status_code == 200
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line[:1] == "{"]
    [down] = [e for e in events if e["event"] == "catalog_cache.redis_unavailable"]
    assert down["host"] == url.removeprefix("redis://").removesuffix("/0")
    assert "Connection" in down["error"]
