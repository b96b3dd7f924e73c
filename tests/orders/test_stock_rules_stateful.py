"""Random sequences of adjustments, orders, cancellations, completions, purchase orders sent,
received and cancelled never break the stock figures or the replenishment rule.

After every step, for every SKU at every location:
- 0 <= reserved <= on_hand; on_hand equals the ledger; reserved equals what open orders
  hold; backordered equals what open orders wait for;
- incoming equals what open purchase orders still bring, and the API's promised and
  spare follow from it;
- nothing waits uncovered for a product that has a supplier and may be backordered;
- what the step bought is exactly what the rule computes, nothing more;
- stock went to waiting orders oldest first: no order holds stock while an older one
  still waits for it, and free stock never sits beside a backorder.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import defaultdict
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
from sqlalchemy import text

from galley.app import create_app
from galley.config import load_settings
from tests import stock_figures
from tests.auth import api_key, bearer
from tests.conftest import BACKENDS, empty_postgres
from tests.services import blocking
from tests.stock_figures import LEVELS, OPEN_ORDERS

# sku: (has a supplier, margin %, pack size, reorder point, reorder quantity)
PRODUCTS: dict[str, tuple[bool, int, int, int | None, int | None]] = {
    "TEA": (True, 20, 1, None, None),
    "BUN": (True, 0, 6, 4, 5),
    "JAM": (False, 20, 1, None, None),
}
SKUS = tuple(PRODUCTS)
OPEN_LINES = text(
    f"""
    SELECT ol.product_id, o.number, ol.allocated, ol.backordered
    FROM order_lines ol JOIN orders o ON o.number = ol.order_number
    WHERE o.status IN {OPEN_ORDERS} ORDER BY ol.product_id, o.number
    """
)


def expected_purchase(sku: str, backordered: int, incoming: int, available: int) -> int:
    """The rule, written out again independently of the code under test."""
    has_supplier, margin, pack, point, quantity = PRODUCTS[sku]
    if not has_supplier:
        return 0
    uncovered = max(0, backordered - incoming)
    buy = 0
    if uncovered:
        with_margin = -(-uncovered * (100 + margin) // 100)
        buy = -(-with_margin // pack) * pack
    spare = incoming + buy - min(backordered, incoming + buy)
    if point is not None and quantity is not None and available + spare < point:
        buy += -(-quantity // pack) * pack
    return buy


def _machine(database_url: str, reset: Any) -> type[RuleBasedStateMachine]:
    class StockRules(RuleBasedStateMachine):
        orders = Bundle("orders")

        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            reset()
            self.app = create_app(load_settings(database_url=database_url, log_level="ERROR"))
            self.client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.app),
                base_url="http://galley.test",
                headers=bearer(self.run(api_key(database_url))),
            )
            self.ordered_before: dict[str, int] = {}
            # The figures as last read, and how many writes the shop had had then: read once
            # after each step, for every check of it and as the next step's "before".
            self.writes = 0
            self.read: tuple[int, list[Any]] | None = None

        def run(self, coroutine: Any) -> Any:
            return self.loop.run_until_complete(coroutine)

        def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
            self.ordered_before = self.ever_ordered()
            self.writes += 1
            return self.run(self.client.post(path, json=body))

        def get(self, path: str, **params: str) -> Any:
            response = self.run(self.client.get(path, params=params))
            assert response.status_code == 200, response.text
            return response.json()

        def rows(self, statement: Any) -> list[Any]:
            return self.run(stock_figures.rows(self.app.state.engine, statement))  # type: ignore[no-any-return]

        def levels(self) -> list[Any]:
            if self.read is None or self.read[0] != self.writes:
                self.read = (self.writes, self.rows(LEVELS))
            return self.read[1]

        def ever_ordered(self) -> dict[str, int]:
            return {row["sku"]: row["ever_ordered"] for row in self.levels()}

        def teardown(self) -> None:
            self.run(self.client.aclose())
            self.run(self.app.state.engine.dispose())
            self.loop.close()

        @initialize()
        def open_shop(self) -> None:
            assert self.post("/v1/locations", {"code": "K", "name": "Kitchen"}).status_code == 201
            body = {"name": "Supplier", "lead_time_days": 1, "currency": "EUR"}
            supplier = self.post("/v1/suppliers", body).json()["id"]
            for sku, (sourced, margin, pack, point, quantity) in PRODUCTS.items():
                replenishment = {
                    "margin_pct": margin,
                    "pack_size": pack,
                    "reorder_point": point,
                    "reorder_quantity": quantity,
                }
                body = {
                    "sku": sku,
                    "name": sku,
                    "price": {"amount": 100, "currency": "EUR"},
                    "supplier": supplier if sourced else None,
                    "replenishment": replenishment,
                }
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

        @rule(
            order_id=orders,
            sku=st.sampled_from(SKUS),
            arrivals=st.lists(st.integers(1, 4), min_size=1, max_size=3),
            with_receipt=st.booleans(),
        )
        def cancel_while_stock_arrives(
            self, order_id: str, sku: str, arrivals: list[int], with_receipt: bool
        ) -> None:
            """A cancel at the same moment as stock arrives: adjustments, and a receipt of
            one unit when a purchase order brings any."""
            self.ordered_before = self.ever_ordered()
            self.writes += 1
            requests = [self.client.post(f"/v1/orders/{order_id}/cancel", json={"reason": "x"})]
            requests += [
                self.client.post(
                    "/v1/stock/adjustments",
                    json={"sku": sku, "location": "K", "delta": n, "reason": "received"},
                )
                for n in arrivals
            ]
            receivable = [
                (po["id"], line["sku"])
                for po in self.get("/v1/purchase-orders", limit="200")["data"]
                if po["status"] in ("draft", "sent", "partially_received")
                for line in po["lines"]
                if line["quantity_ordered"] > line["quantity_received"]
            ]
            if with_receipt and receivable:
                po_id, received = receivable[0]
                body = {"lines": [{"sku": received, "quantity": 1}]}
                requests.append(
                    self.client.post(f"/v1/purchase-orders/{po_id}/receipts", json=body)
                )

            async def at_once() -> list[httpx.Response]:
                return await asyncio.gather(*requests)

            cancelled, *arrived = self.run(at_once())
            assert cancelled.status_code in (200, 409), cancelled.text
            assert [r.status_code for r in arrived] == [201] * len(arrived), arrived[0].text

        @rule(order_id=orders, action=st.sampled_from(["start", "ready", "complete"]))
        def move(self, order_id: str, action: str) -> None:
            response = self.post(f"/v1/orders/{order_id}/{action}")
            assert response.status_code in (200, 409), response.text

        @rule(data=st.data(), action=st.sampled_from(["send", "cancel"]))
        def move_purchase_order(self, data: st.DataObject, action: str) -> None:
            pos = self.get("/v1/purchase-orders", limit="200")["data"]
            if not pos:
                return
            po = data.draw(st.sampled_from(pos))
            response = self.post(f"/v1/purchase-orders/{po['id']}/{action}")
            assert response.status_code in (200, 409), response.text

        @rule(data=st.data(), over=st.booleans())
        def receive(self, data: st.DataObject, over: bool) -> None:
            pos = [
                po
                for po in self.get("/v1/purchase-orders", limit="200")["data"]
                if po["status"] in ("draft", "sent", "partially_received") and po["lines"]
            ]
            if not pos:
                return
            po = data.draw(st.sampled_from(pos))
            line = data.draw(st.sampled_from(po["lines"]))
            outstanding = line["quantity_ordered"] - line["quantity_received"]
            most = outstanding + 3 if over else outstanding
            if most < 1:
                return
            quantity = data.draw(st.integers(1, most))
            body = {
                "lines": [{"sku": line["sku"], "quantity": quantity}],
                "allow_over_receipt": over,
            }
            response = self.post(f"/v1/purchase-orders/{po['id']}/receipts", body)
            assert response.status_code == 201, response.text

        @invariant()
        def figures_hold(self) -> None:
            levels = self.levels()
            assert stock_figures.drift(levels) == []
            for row in levels:
                available = row["on_hand"] - row["reserved"]
                assert available == 0 or row["backordered"] == 0, row

        @invariant()
        def the_api_reports_the_same_figures(self) -> None:
            for level in self.get("/v1/stock", limit="200")["data"]:
                promised = min(level["backordered"], level["incoming"])
                assert level["promised"] == promised, level
                assert level["spare"] == level["incoming"] - promised, level

        @invariant()
        def the_rule_bought_exactly_what_it_should(self) -> None:
            for row in self.levels():
                sku = row["sku"]
                bought = row["ever_ordered"] - self.ordered_before.get(sku, 0)
                available = row["on_hand"] - row["reserved"]
                before = row["incoming"] - bought
                assert bought >= 0, row
                assert bought == expected_purchase(sku, row["backordered"], before, available), row
                if bought:  # and after buying, nothing is left to buy
                    assert (
                        expected_purchase(sku, row["backordered"], row["incoming"], available) == 0
                    )
                if PRODUCTS[sku][0]:
                    assert row["backordered"] <= row["incoming"], row

        @invariant()
        def stock_went_to_the_oldest_orders_first(self) -> None:
            by_product: dict[int, list[Any]] = defaultdict(list)
            for line in self.rows(OPEN_LINES):
                by_product[line["product_id"]].append(line)
            for lines in by_product.values():
                waiting = False
                for line in lines:  # oldest order first
                    assert not (waiting and line["allocated"]), lines
                    waiting = waiting or line["backordered"] > 0

    return StockRules


# 40 random sequences of 30 steps on each engine, in two runs of 20 that two test
# processes can share.
@pytest.mark.parametrize("run", ["first 20", "second 20"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_stock_figures_and_the_rule_hold_after_every_step(
    backend: str, run: str, request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
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
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
