"""An answer that shows a secret once carries the ETag of the resource as GET shows it
(without the secret): it serves the next `If-Match`, and is not made from the secret."""

from __future__ import annotations

import httpx
import pytest

from galley.config import Settings, load_settings

HOOK = "http://127.0.0.1:9/hooks"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Webhooks to this machine, over plain http: nothing is sent to them here."""
    return load_settings(
        database_url=database_url,
        log_level="WARNING",
        webhooks_allow_private=True,
        webhooks_allow_insecure=True,
    )


async def _same_tag_as_read(
    client: httpx.AsyncClient, answer: httpx.Response, path: str, change: dict[str, object]
) -> None:
    assert answer.status_code < 300, answer.text
    read = await client.get(path)
    assert answer.headers["ETag"] == read.headers["ETag"]
    changed = await client.patch(path, json=change, headers={"If-Match": answer.headers["ETag"]})
    assert changed.status_code == 200, changed.text


async def test_every_answer_with_a_secret_carries_the_etag_a_read_gives(
    client: httpx.AsyncClient,
) -> None:
    body = {"name": "Roastery", "lead_time_days": 2, "currency": "EUR", "webhook_url": HOOK}
    supplier = await client.post("/v1/suppliers", json=body)
    path = f"/v1/suppliers/{supplier.json()['id']}"
    await _same_tag_as_read(client, supplier, path, {"lead_time_days": 3})
    rotated = await client.post(f"{path}/rotate-webhook-secret")
    await _same_tag_as_read(client, rotated, path, {"lead_time_days": 4})

    endpoint = await client.post(
        "/v1/webhook-endpoints", json={"url": HOOK, "event_types": ["order.placed"]}
    )
    path = f"/v1/webhook-endpoints/{endpoint.json()['id']}"
    await _same_tag_as_read(client, endpoint, path, {"enabled": False})
    rotated = await client.post(f"{path}/rotate-secret")
    await _same_tag_as_read(client, rotated, path, {"enabled": True})
