"""Rows as one array per column, unnested side by side: a table for one PostgreSQL
statement, whose shape is the same for any number of rows (SQLAlchemy compiles it once,
asyncpg prepares it once, and it sends one value per column, never past asyncpg's 32 767),
where a VALUES list is compiled afresh for every statement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, column, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine


def unnested(
    name: str, rows: Sequence[Mapping[str, Any]] | None, types: Mapping[str, TypeEngine[Any]]
) -> TableValuedAlias:
    """`FROM unnest($1::T1[], $2::T2[], …) AS anon(key1, key2, …)`, bound as `name_key`:
    to `rows`, or, without them, to the arrays given when the statement runs (`arrays`), so
    that the statement can be built once."""
    bound = (
        bindparam(f"{name}_{key}", None if rows is None else [row[key] for row in rows], ARRAY(t))
        for key, t in types.items()
    )
    listed = (column(key, type_) for key, type_ in types.items())
    return func.unnest(*bound).table_valued(*listed).render_derived()


def arrays(name: str, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """The parameters of `unnested(name, None, …)` for `rows`."""
    return {f"{name}_{key}": [row[key] for row in rows] for key in keys}
