"""Random sequences of adjustments, orders, cancellations and completions never break the stock
figures: after every step 0 <= reserved <= on_hand, on_hand equals the ledger, reserved equals
what open orders hold and backordered equals what open orders wait for."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import bindparam, text

from galley.app import create_app
from galley.config import load_settings
from tests.conftest import BACKENDS, empty_postgres
from tests.services import blocking

SKUS = ("TEA", "BUN", "JAM")
OPEN = ("awaiting_stock", "confirmed", "preparing", "ready")

FIGURES = text(
    """
    SELECT s.product_id, s.on_hand, s.reserved, s.backordered,
      (SELECT COALESCE(SUM(delta), 0) FROM stock_ledger l
        WHERE l.product_id = s.product_id AND l.location_id = s.location_id) AS ledger,
      (SELECT COALESCE(SUM(ol.allocated), 0) FROM order_lines ol JOIN orders o
        ON o.number = ol.order_number WHERE ol.product_id = s.product_id
        AND o.location_id = s.location_id AND o.status IN :open) AS held,
      (SELECT COALESCE(SUM(ol.backordered), 0) FROM order_lines ol JOIN orders o
        ON o.number = ol.order_number WHERE ol.product_id = s.product_id
        AND o.location_id = s.location_id AND o.status IN :open) AS waiting
    FROM stock_levels s
    """
).bindparams(bindparam("open", value=OPEN, expanding=True))


def _machine(database_url: str, reset: Any) -> type[RuleBasedStateMachine]:
    class StockRules(RuleBasedStateMachine):
        orders = Bundle("orders")

        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            reset()
            self.app = create_app(load_settings(database_url=database_url, log_level="ERROR"))
            self.client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.app), base_url="http://galley.test"
            )

        def run(self, coroutine: Any) -> Any:
            return self.loop.run_until_complete(coroutine)

        def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
            return self.run(self.client.post(path, json=body))

        def teardown(self) -> None:
            self.run(self.client.aclose())
            self.run(self.app.state.engine.dispose())
            self.loop.close()

        @initialize()
        def open_shop(self) -> None:
            assert self.post("/v1/locations", {"code": "K", "name": "Kitchen"}).status_code == 201
            for sku in SKUS:
                body = {"sku": sku, "name": sku, "price": {"amount": 100, "currency": "EUR"}}
                assert self.post("/v1/products", body).status_code == 201

        @rule(sku=st.sampled_from(SKUS), delta=st.integers(-6, 12).filter(bool))
        def adjust(self, sku: str, delta: int) -> None:
            body = {"sku": sku, "location": "K", "delta": delta, "reason": "count"}
            response = self.post("/v1/stock/adjustments", body)
            assert response.status_code in (201, 409), response.text

        @rule(
            target=orders,
            lines=st.dictionaries(st.sampled_from(SKUS), st.integers(1, 8), min_size=1),
        )
        def place(self, lines: dict[str, int]) -> str:
            body = {"location": "K", "lines": [{"sku": s, "quantity": q} for s, q in lines.items()]}
            response = self.post("/v1/orders", body)
            assert response.status_code == 201, response.text
            order = response.json()
            short = any(line["backordered"] for line in order["lines"])
            assert order["status"] == ("awaiting_stock" if short else "confirmed")
            return str(order["id"])

        @rule(order_id=orders)
        def cancel(self, order_id: str) -> None:
            response = self.post(f"/v1/orders/{order_id}/cancel", {"reason": "test"})
            assert response.status_code in (200, 409), response.text

        @rule(order_id=orders, action=st.sampled_from(["start", "ready", "complete"]))
        def move(self, order_id: str, action: str) -> None:
            response = self.post(f"/v1/orders/{order_id}/{action}")
            assert response.status_code in (200, 409), response.text

        @invariant()
        def figures_hold(self) -> None:
            async def figures() -> list[Any]:
                async with self.app.state.engine.connect() as connection:
                    return list((await connection.execute(FIGURES)).mappings())

            for row in self.run(figures()):
                assert 0 <= row["reserved"] <= row["on_hand"], row
                assert row["on_hand"] == row["ledger"], row
                assert row["reserved"] == row["held"], row
                assert row["backordered"] == row["waiting"], row

    return StockRules


@pytest.mark.parametrize("backend", BACKENDS)
def test_stock_figures_hold_after_every_step(
    backend: str, request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> None:
    if backend == "sqlite":
        path = tmp_path / "galley.db"
        url = f"sqlite+aiosqlite:///{path}"

        def reset() -> None:
            shutil.copy(sqlite_template, path)
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    else:
        url = request.getfixturevalue("postgres_database")

        def reset() -> None:
            blocking(lambda: empty_postgres(url))

    run_state_machine_as_test(
        _machine(url, reset),
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
