"""The garbage collector of a long-running process (`galley serve`, `galley worker`).

A full collection walks every object the process holds, start-up's included (modules,
mappers, schemas, the app): in the bench each API process spent 100 to 330 ms in one, a
few times a minute, and every request in flight waited that long, which is most of the
p99 of a paced S1.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Once start-up is done: what it allocated is kept out of every later collection for
    good (`gc.freeze`), and young objects are collected after 10 000 allocations rather
    than CPython's 700, so that a request's short-lived objects are mostly gone by then."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)
