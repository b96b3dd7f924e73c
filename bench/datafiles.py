"""What the wrk scripts read, one item a line: SKUs, customers' tokens, the API key, and
the paths of real pages (filters and cursors as a client walking the catalog sends them)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.shop import CUSTOMER_PASSWORD, HOT_SKU, SELLOUT_SKU, SIZES, WORDS, Shop

# Pages of each filtered walk; the unfiltered walk goes through the whole catalog.
FILTERED_PAGES = 10


async def _log_in(http: httpx.AsyncClient, emails: list[str]) -> list[str]:
    """An access token for each of `emails`, logging in as the customers would."""

    async def one(email: str) -> str:
        answer = await http.post(
            "/v1/auth/token", json={"email": email, "password": CUSTOMER_PASSWORD}
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    return list(await asyncio.gather(*(one(email) for email in emails)))


async def _walk(http: httpx.AsyncClient, query: dict[str, str], most: int | None) -> list[str]:
    """The path of each page of a listing, following `next_cursor`."""
    paths: list[str] = []
    cursor = None
    while most is None or len(paths) < most:
        params = {**query, "limit": "50", **({"cursor": cursor} if cursor else {})}
        path = f"/v1/products?{urlencode(params)}"
        answer = await http.get(path)
        answer.raise_for_status()
        paths.append(path)
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break
    return paths


async def _write(base: str, shop: Shop, folder: Path, customers: int) -> None:
    rng = random.Random(5)  # noqa: S311 - which customers log in need not be secret
    headers = {"Authorization": f"Bearer {shop.api_key}"}
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as http:
        tokens = await _log_in(http, rng.sample(shop.customer_emails, customers))
        pages = await _walk(http, {}, None)
        pages += await _walk(http, {"active": "true"}, FILTERED_PAGES)
        for word in (*rng.sample(WORDS, 4), rng.choice(SIZES)):
            pages += await _walk(http, {"q": word}, FILTERED_PAGES)
        first = await http.get("/v1/products?limit=50")
        one = await http.get(f"/v1/products/{shop.skus[0]}")
    (folder / "skus.txt").write_text("\n".join(shop.skus) + "\n")
    (folder / "hot.txt").write_text(HOT_SKU + "\n")
    (folder / "sellout.txt").write_text(SELLOUT_SKU + "\n")
    (folder / "customers.txt").write_text("\n".join(tokens) + "\n")
    (folder / "api-key.txt").write_text(shop.api_key + "\n")
    (folder / "pages.txt").write_text("\n".join(pages) + "\n")
    # What the bare reference answers: the same bytes, fetched once.
    (folder / "page.json").write_bytes(first.content)
    (folder / "product.json").write_bytes(one.content)


def write(base: str, shop: Shop, folder: Path, customers: int) -> None:
    asyncio.run(_write(base, shop, folder, customers))
