"""The OpenAPI document says what the code does: errors are problems under the media type they
are sent with, and the rules the code holds requests to are in the schemas."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import APIRouter, FastAPI

from galley.app import create_app
from galley.errors import PROBLEM_JSON
from galley.http import problems
from galley.http.routing import GalleyRoute
from galley.identity.rules import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from tests import shop
from tests.problems import fields

REF = "#/components/schemas/"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Logging in takes the password an account has: the rules for a new one may grow stricter,
# and a password set before must still log in.
LOG_IN = ("post", "/v1/auth/token")
# Class escapes that mean other characters in ECMA-262 (the spec's patterns) than in
# pydantic's regex engine: `\s` takes in U+FEFF and leaves out U+0085, `\d` and `\w` are
# ASCII there and Unicode here.
ENGINE_DEPENDENT = re.compile(r"(?<!\\)(\\\\)*\\[sSdDwWbB]")

SPEC = create_app().openapi()


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].removeprefix(REF)]
    return schema


def _properties(
    schema: dict[str, Any], seen: frozenset[str] = frozenset()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of `schema`, at any depth, by name."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen |= {schema["$ref"]}
    schema = _resolve(schema)
    for name, prop in (schema.get("properties") or {}).items():
        yield name, _resolve(prop)
        yield from _properties(prop, seen)
    for key in ("anyOf", "allOf", "oneOf"):
        for part in schema.get(key) or ():
            yield from _properties(part, seen)
    if isinstance(schema.get("items"), dict):
        yield from _properties(schema["items"], seen)


def _strings(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The string branches of a property (`str | None` is an anyOf of string and null)."""
    branches = schema.get("anyOf") or [schema]
    return [_resolve(b) for b in branches if _resolve(b).get("type") == "string"]


def _request_schemas(operation: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for parameter in operation.get("parameters") or ():
        yield parameter["schema"]
    for media in ((operation.get("requestBody") or {}).get("content") or {}).values():
        yield media["schema"]


def _patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if isinstance(schema.get("pattern"), str):
            yield schema["pattern"]
        if "$ref" in schema:
            yield from _patterns(_resolve(schema))
        for key, value in schema.items():
            if key not in ("pattern", "$ref", "examples", "default"):
                yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


# ---- problems ---------------------------------------------------------------------------


def test_every_error_status_is_a_problem_under_application_problem_json() -> None:
    wrong = []
    for method, path, operation in _operations(SPEC):
        for status, response in operation["responses"].items():
            if status[0] not in "45":
                continue
            model = "ValidationProblem" if status == "422" else "Problem"
            expected = {PROBLEM_JSON: {"schema": {"$ref": REF + model}}}
            if response.get("content") != expected:
                wrong.append(f"{method.upper()} {path} {status}: {response.get('content')}")
    assert wrong == []


def test_the_problem_schemas_are_those_the_handlers_send() -> None:
    schemas = SPEC["components"]["schemas"]
    problem = schemas["Problem"]
    validation = schemas["ValidationProblem"]

    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance"}
    assert set(validation["required"]) == set(problem["required"]) | {"errors"}
    assert validation["properties"]["errors"]["items"] == {"$ref": REF + "FieldError"}
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas


def test_every_operation_that_reads_input_documents_its_validation_problem() -> None:
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in _operations(SPEC)
        if (operation.get("parameters") or operation.get("requestBody"))
        and "422" not in operation["responses"]
    ]
    assert missing == []


async def _nothing_left(request: object, refused: object) -> None:
    pass


def test_a_route_that_names_no_422_still_documents_its_validation_problem() -> None:
    router = APIRouter(route_class=GalleyRoute)

    @router.get("/numbers")
    async def numbers(n: int) -> dict[str, int]:
        return {"n": n}

    app = FastAPI()
    problems.install(app, aftermath=_nothing_left)
    app.include_router(router)
    spec = app.openapi()

    documented = spec["paths"]["/numbers"]["get"]["responses"]["422"]
    assert documented["content"] == {PROBLEM_JSON: {"schema": {"$ref": REF + "ValidationProblem"}}}
    assert "ValidationProblem" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]


# ---- request rules ----------------------------------------------------------------------


def test_every_password_a_request_sets_declares_the_password_rules() -> None:
    found = {}
    for method, path, operation in _operations(SPEC):
        for media in ((operation.get("requestBody") or {}).get("content") or {}).values():
            for name, prop in _properties(media["schema"]):
                if "password" in name:
                    found[(method, path, name)] = [
                        (s.get("minLength"), s.get("maxLength")) for s in _strings(prop)
                    ]

    expected = {
        key: [(1 if key[:2] == LOG_IN else MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH)]
        for key in found
    }
    assert found == expected
    assert {path for _, path, _ in found} >= {"/v1/auth/register", "/v1/users", LOG_IN[1]}


def test_the_log_in_form_has_the_rules_of_the_json_body() -> None:
    content = dict(SPEC["paths"][LOG_IN[1]][LOG_IN[0]]["requestBody"]["content"])
    form = content["application/x-www-form-urlencoded"]["schema"]["properties"]
    body = _resolve(content["application/json"]["schema"])["properties"]

    assert form == {"username": body["email"], "password": body["password"]}


def test_no_pattern_uses_a_class_escape_that_means_other_things_in_other_engines() -> None:
    dependent = sorted(
        {
            f"{method.upper()} {path}: {pattern}"
            for method, path, operation in _operations(SPEC)
            for schema in _request_schemas(operation)
            for pattern in _patterns(schema)
            if ENGINE_DEPENDENT.search(pattern)
        }
    )
    assert dependent == []


def _spec_takes(method: str, path: str, body: dict[str, Any]) -> bool:
    """Whether the JSON body schema of the operation, read as a client reads it, takes `body`."""
    media = SPEC["paths"][path][method]["requestBody"]["content"]["application/json"]
    schema = {**media["schema"], "components": SPEC["components"]}
    return bool(jsonschema_rs.Draft202012Validator(schema).is_valid(body))


PASSWORD = "correct horse battery"
PRODUCT = {"sku": "TEA", "name": "Tea", "price": {"amount": 300, "currency": "EUR"}}
SUPPLIER = {"name": "Roastery", "lead_time_days": 3, "currency": "EUR"}
# A request the code refuses for its shape (the field it names), or takes (None); the spec
# must say the same.
SHAPES: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("post", "/v1/auth/register", {"email": "a@example.com", "password": "x" * 11}, "password"),
    ("post", "/v1/auth/register", {"email": "b@example.com", "password": "k3y-" * 3}, None),
    ("post", "/v1/auth/register", {"email": "c@example.com", "password": "k3y-" * 256}, None),
    ("post", "/v1/auth/register", {"email": "d@example.com", "password": "x" * 1025}, "password"),
    ("post", "/v1/auth/register", {"email": "e\x85@example.com", "password": PASSWORD}, "email"),
    ("post", "/v1/auth/register", {"email": "f\ufeff@example.com", "password": PASSWORD}, None),
    (
        "post",
        "/v1/users",
        {"email": "g@example.com", "password": "x" * 11, "role": "staff"},
        "password",
    ),
    ("post", "/v1/suppliers", SUPPLIER | {"email": "h\x85@example.com"}, "email"),
    ("post", "/v1/suppliers", SUPPLIER | {"webhook_url": "https://a\x85b.example"}, "webhook_url"),
    (
        "post",
        "/v1/api-keys",
        {"name": "till", "role": "staff", "expires_at": 1_900_000_000},
        "expires_at",
    ),
    (
        "post",
        "/v1/api-keys",
        {"name": "till", "role": "staff", "expires_at": "2030-01-01"},
        "expires_at",
    ),
    (
        "post",
        "/v1/api-keys",
        {"name": "till", "role": "staff", "expires_at": "2030-01-01T00:00:00Z"},
        None,
    ),
    ("post", "/v1/products", PRODUCT | {"replenishment": {"reorder_point": 5}}, "replenishment"),
    (
        "post",
        "/v1/products",
        PRODUCT | {"replenishment": {"reorder_point": 5, "reorder_quantity": None}},
        "replenishment",
    ),
    (
        "post",
        "/v1/products",
        PRODUCT | {"replenishment": {"reorder_point": 5, "reorder_quantity": 10}},
        None,
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    SHAPES,
    ids=[f"{path}-{field or 'taken'}" for _, path, _, field in SHAPES],
)
async def test_the_spec_takes_the_requests_the_code_takes_and_no_others(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], field: str | None
) -> None:
    before = await shop.everything(client)
    answer = await client.request(method, path, json=body)

    if field is None:
        assert answer.status_code == 201, answer.text
        assert _spec_takes(method, path, body)
    else:
        assert fields(answer) == [field]
        assert not _spec_takes(method, path, body)
        assert await shop.everything(client) == before
