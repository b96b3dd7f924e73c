"""A client generated from /openapi.json by openapi-python-client reads Galley's answers,
its problems included: the spec is what clients are made from."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.services import require

# Made by `make test`: see tests/client-generator.txt.
GENERATOR = Path(sys.prefix, "client-generator", "bin", "openapi-python-client")
PACKAGE = "galley_client"


@pytest.fixture
async def generated(client: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[ModuleType]:
    """The client package openapi-python-client makes from the app's /openapi.json."""
    if not GENERATOR.exists():
        require("openapi-python-client", f"no {GENERATOR}; `make test` installs it")
    spec = tmp_path / "openapi.json"
    spec.write_text((await client.get("/openapi.json")).text)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"package_name_override": PACKAGE, "post_hooks": []}))
    arguments = ["--path", spec, "--config", config, "--meta", "none"]
    made = subprocess.run(
        [GENERATOR, "generate", *arguments, "--output-path", tmp_path / PACKAGE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _api(package: ModuleType, module: str) -> Any:
    return importlib.import_module(f"{package.__name__}.api.{module}")


def _generated_client(package: ModuleType, http: httpx.AsyncClient) -> Any:
    """The generated client, sending through the test's client (the app, as an admin)."""
    return package.Client(base_url=str(http.base_url)).set_async_httpx_client(http)


async def test_a_conflict_reads_as_the_generated_problem(
    client: httpx.AsyncClient, generated: ModuleType
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    create = _api(generated, "locations.create_location_v1_locations_post")
    galley = _generated_client(generated, client)
    kitchen = models.LocationCreate(code="KITCHEN", name="Kitchen")

    first = await create.asyncio_detailed(client=galley, body=kitchen)
    again = await create.asyncio_detailed(client=galley, body=kitchen)

    assert first.status_code == 201
    assert isinstance(first.parsed, models.LocationOut)
    assert again.status_code == 409
    assert isinstance(again.parsed, models.Problem)
    assert again.parsed.type_ == "https://galley.dev/problems/duplicate-location"
    assert again.parsed.title == "Conflict"
    assert again.parsed.status == 409
    assert again.parsed.detail == "A location with code KITCHEN already exists."


async def test_a_refused_request_reads_as_the_generated_validation_problem(
    client: httpx.AsyncClient, generated: ModuleType
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    create = _api(generated, "locations.create_location_v1_locations_post")
    galley = _generated_client(generated, client)

    refused = await create.asyncio_detailed(
        client=galley, body=models.LocationCreate(code="no spaces", name="Kitchen")
    )

    assert refused.status_code == 422
    assert isinstance(refused.parsed, models.ValidationProblem)
    assert refused.parsed.type_ == "https://galley.dev/problems/validation-error"
    assert [error.field for error in refused.parsed.errors] == ["code"]
    assert (await client.get("/v1/locations")).json()["data"] == []
