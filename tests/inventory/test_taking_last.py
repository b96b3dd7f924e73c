"""An order takes its stock last: planned from figures read without a lock, reserved by
a conditional UPDATE once the order is written, and run again locking first when the
figures moved in between (`galley.inventory.levels`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from galley.catalog.service import sellables
from galley.config import Settings
from galley.db import Database
from galley.inventory import service as inventory
from galley.inventory.rules import Allocation
from tests import shop

# Only PostgreSQL lets another transaction change the figures between the plan and its
# reservation: SQLite's one writer holds the database from the plan on.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
async def database(client: httpx.AsyncClient, settings: Settings) -> AsyncIterator[Database]:
    """Five of TEA in the kitchen."""
    await shop.location(client)
    await shop.product(client, "TEA")
    await shop.stock(client, "TEA", 5)
    opened = Database(settings)
    yield opened
    await opened.dispose()


async def _tea(session: AsyncSession) -> int:
    return (await sellables(session, ["TEA"]))["TEA"].id


async def _plan(session: AsyncSession, tea: int, quantity: int) -> inventory.Plan:
    """An order's plan for TEA in the kitchen, from the figures as they stand."""
    stocked = await inventory.stocked(session, inventory.by_sku_at(), "KITCHEN", ["TEA"])
    return await inventory.plan_reservation(session, stocked, "KITCHEN", {tea: quantity})


async def test_a_plan_the_stock_moved_under_is_run_again_locking_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    plans: list[inventory.Plan] = []

    async def order_three(session: AsyncSession) -> dict[int, inventory.Level]:
        tea = await _tea(session)
        plan = await _plan(session, tea, 3)
        plans.append(plan)
        if len(plans) == 1:  # another order takes 4 of the 5 meanwhile
            async with database.transaction() as other:
                taken = await _plan(other, tea, 4)
                await inventory.take(other, taken)
        figures, _ = await inventory.take(session, plan)
        return figures

    figures = await database.run(order_three)

    first, second = plans
    tea = next(iter(first.allocations))
    assert (first.locked, first.allocations[tea]) == (False, Allocation(3, 0))
    assert (second.locked, second.allocations[tea]) == (True, Allocation(1, 2))
    assert (figures[tea].reserved, figures[tea].backordered) == (5, 2)
    assert (await shop.level(client, "TEA"))["reserved"] == 5


async def test_a_plan_still_true_under_the_lock_is_taken_as_planned(
    client: httpx.AsyncClient, database: Database
) -> None:

    async def order_two(session: AsyncSession) -> inventory.Plan:
        tea = await _tea(session)
        plan = await _plan(session, tea, 2)
        async with database.transaction() as other:  # takes 1: 2 of the 4 left still fit
            await inventory.take(other, await _plan(other, tea, 1))
        await inventory.take(session, plan)
        return plan

    plan = await database.run(order_two)

    assert not plan.locked
    assert (await shop.level(client, "TEA"))["reserved"] == 3


async def test_outside_a_run_that_could_repeat_it_the_stock_is_locked_first(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.transaction() as session:
        tea = await _tea(session)
        plan = await _plan(session, tea, 2)
        await inventory.take(session, plan)
    assert plan.locked
