"""The bare reference: Starlette answering from memory the page and the product that
Galley answered once, so the difference to Galley is what Galley does per request.

Run by the driver as `uvicorn bench.bare:app` with BENCH_PAGE and BENCH_PRODUCT naming
the files that hold the bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = Path(os.environ.get("BENCH_PAGE", "/dev/null")).read_bytes()
PRODUCT = Path(os.environ.get("BENCH_PRODUCT", "/dev/null")).read_bytes()


async def page(request: Request) -> Response:
    return Response(PAGE, media_type="application/json")


async def product(request: Request) -> Response:
    return Response(PRODUCT, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/v1/products", page),
        Route("/v1/products/{sku}", product),
        Route("/healthz", healthz),
    ]
)
