"""The route class every Galley router uses: one transaction per request, committed before
the answer leaves, and idempotent replay for POSTs that carry an `Idempotency-Key`, claimed
in that same transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from galley.db import Database
from galley.errors import Conflict, UnsupportedMediaType, problem_responses
from galley.http import idempotency
from galley.http.throttle import Throttle, client_address

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_READ_METHODS = frozenset({"GET", "HEAD"})
# Times a request's key may be taken over from a claim left without an answer.
_TAKE_OVERS = 3


class Guard:
    """Base of a route dependency that lets only some callers through: a route that
    declares one documents 401 and 403. Whose budget and Idempotency-Key space a request
    uses comes from `app.state.caller_key`, a function of the request's credentials."""


class OwnReplays:
    """A POST route that answers a repeated `Idempotency-Key` from records of its own
    rather than from `galley.http.idempotency`: one whose answer is only known after its
    transaction (a payment, which the gateway completes). It validates the key itself."""

    async def __call__(self) -> None:
        return None


async def _document_idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=idempotency.KEY_PATTERN.pattern,
            description="Retry safely: the same key and body within 24 h replays the first answer.",
        ),
    ] = None,
) -> None:
    """Only puts the header into the OpenAPI spec; `GalleyRoute` acts on it."""


class GalleyRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if "POST" in (kwargs.get("methods") or ()):
            extra = [Depends(_document_idempotency_key)]
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or []), *extra]
        if any(isinstance(d.dependency, Guard) for d in kwargs.get("dependencies") or ()):
            # Every protected route can answer these; the spec says so.
            kwargs["responses"] = {**problem_responses(401, 403), **(kwargs.get("responses") or {})}
        # Every request spends from its caller's budget (galley.http.throttle), and needs
        # the database, which may not answer (galley.outages).
        kwargs["responses"] = {**problem_responses(429, 503), **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)
        self.own_replays = any(
            isinstance(d.dependency, OwnReplays) for d in kwargs.get("dependencies") or ()
        )
        if get_flat_params(self.dependant) or self.body_field is not None:
            # Where FastAPI would document its own 422 body, which galley.http.problems
            # answers as a validation problem instead.
            self.responses = {**problem_responses(422), **self.responses}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        # JSON, unless the route documents other body types (the OAuth2 login form).
        content = ((self.openapi_extra or {}).get("requestBody") or {}).get("content") or {}
        accepted = frozenset(content) or frozenset({"application/json"})

        async def in_transaction(request: Request) -> Response:
            caller: str = request.app.state.caller_key(request)
            throttle: Throttle = request.app.state.throttle
            # Before the body is read or a connection taken: a refusal costs next to nothing.
            await throttle.spend_request(caller, client_address(request))
            await _require_media_type(request, accepted)
            database: Database = request.app.state.database
            replays = request.method == "POST" and not self.own_replays
            key = request.headers.get("idempotency-key") if replays else None
            claim = None
            if key is not None:
                print_ = idempotency.fingerprint(
                    request.method, request.url.path, await request.body()
                )
                claim = (caller, idempotency.validate_key(key), print_)
            return await _run(database, request, handle, claim)

        return in_transaction


async def _run(
    database: Database,
    request: Request,
    handle: Callable[[Request], Coroutine[Any, Any, Response]],
    claim: tuple[str, str, str] | None,
) -> Response:
    """Run the route in one transaction, committed before the answer leaves, then what
    was handed to `after_the_transaction`."""
    afterwards: list[Callable[[], Awaitable[Response | None]]] = []
    request.state.afterwards = afterwards
    response = await _answer(database, request, handle, claim)
    for job in afterwards:
        response = await job() or response
    return response


def after_the_transaction(request: Request, job: Callable[[], Awaitable[Response | None]]) -> None:
    """Run `job` once the request's transaction is over and its connection back in the
    pool, before the answer leaves: for a write that a transaction opened to read must
    not make, without waiting for a second connection while holding one (requests that
    did would hold each other up until the pool's timeout). A job that returns a
    response answers instead of the route: what it found after the transaction."""
    request.state.afterwards.append(job)


async def _answer(
    database: Database,
    request: Request,
    handle: Callable[[Request], Coroutine[Any, Any, Response]],
    claim: tuple[str, str, str] | None,
) -> Response:
    """The route's answer, from one transaction; with an `Idempotency-Key` (`claim`:
    caller, key and fingerprint), claimed by one of its statements and answered by its
    last, or its stored answer replayed (`galley.http.idempotency`).

    A transaction the database aborted to break a deadlock (or a serialization
    conflict), or one whose connection was found closed before anything ran, wrote
    nothing, so it is run again from the start, a few times at most.
    """

    async def attempt(session: AsyncSession) -> Response:
        request.state.session = session
        held = None if claim is None else idempotency.claim(session, *claim)
        response = await handle(request)
        if held is not None:
            idempotency.record(session, held, response, database.settings.sealing_keys)
        return response

    read_only = request.method in _READ_METHODS
    if claim is None:
        return await database.run(attempt, read_only=read_only)
    for _ in range(_TAKE_OVERS):
        try:
            return await database.run(attempt, read_only=read_only)
        except Exception as error:
            caller, key, print_ = claim
            try:
                return await idempotency.settle(database, error, caller, key, print_)
            except idempotency.RunAgain:
                continue
    raise Conflict("Other requests with this Idempotency-Key keep taking it; try again.")


async def _require_media_type(request: Request, accepted: frozenset[str]) -> None:
    """Read the body here (so the size limit answers 413) and insist on an accepted type."""
    if request.method not in _BODY_METHODS:
        return
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not body and not content_type:
        return
    json_like = content_type.endswith("+json") and "application/json" in accepted
    if content_type not in accepted and not json_like:
        raise UnsupportedMediaType(
            f"Send the body as {' or '.join(sorted(accepted))}, "
            f"not {content_type or 'without a content type'}."
        )


async def _session(request: Request) -> AsyncSession:
    session: AsyncSession = request.state.session
    return session


Session = Annotated[AsyncSession, Depends(_session)]
