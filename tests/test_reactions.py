"""The reaction table: every kind of change has its handlers, run in order, breadth first."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, get_args, get_type_hints

import pytest

from galley import changes, reactions
from galley.config import Settings


def test_every_kind_of_change_has_reactions() -> None:
    kinds = set(get_args(changes.Change))
    assert set(reactions.REACTIONS) == kinds
    assert all(reactions.REACTIONS[kind] for kind in kinds)


@pytest.mark.parametrize(
    ("kind", "handler"),
    [(kind, handler) for kind, handlers in reactions.REACTIONS.items() for handler in handlers],
    ids=lambda value: getattr(value, "__qualname__", str(value)),
)
def test_each_handler_takes_the_change_it_is_listed_for_and_the_settings(
    kind: type, handler: Any
) -> None:
    _, taken, settings = list(inspect.signature(handler).parameters)
    hints = get_type_hints(handler)
    assert kind is hints[taken] or kind in get_args(hints[taken])
    assert hints[settings] is Settings


async def test_what_reactions_change_is_settled_after_what_waits_already(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    freed = changes.StockFreed(1, (1,), "test", "counted")
    announced = changes.Announced("stock.low", [])

    async def fill(session: object, change: object, _: object) -> Sequence[changes.Change]:
        seen.append("fill")
        return [changes.CoverChanged(1, (1,), "test")]

    async def buy(session: object, change: object, _: object) -> Sequence[changes.Change]:
        seen.append(f"buy after {type(change).__name__}")
        return []

    async def record(session: object, change: object, _: object) -> Sequence[changes.Change]:
        seen.append("record")
        return []

    monkeypatch.setattr(
        reactions,
        "REACTIONS",
        {
            changes.StockFreed: (fill, buy),
            changes.CoverChanged: (buy,),
            changes.Announced: (record,),
        },
    )

    async def use_case() -> tuple[str, list[changes.Change]]:
        return "answer", [freed, announced]

    settled = reactions.settled(None, use_case(), None)  # type: ignore[arg-type]
    assert await settled == "answer"
    assert seen == ["fill", "buy after StockFreed", "record", "buy after CoverChanged"]
