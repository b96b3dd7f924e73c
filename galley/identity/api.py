from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError

from galley.errors import FieldError, InvalidRequest, problem_responses
from galley.http.deps import AppSettings, Keys
from galley.http.etags import check_if_match, resource_response
from galley.http.routing import GalleyRoute, Session
from galley.http.throttle import AppThrottle, ClientAddress
from galley.identity import service
from galley.identity.access import (
    CurrentPrincipal,
    RequestOrigin,
    forget_callers,
    origin_of,
    requires,
)
from galley.identity.errors import LoginThrottled, SignupClosed
from galley.identity.models import ApiKey, User
from galley.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    Credentials,
    Me,
    RefreshRequest,
    Registration,
    TokenPair,
    UserChange,
    UserCreate,
    UserOut,
)
from galley.privacy.keys import DataKeys
from galley.reactions import settled

auth = APIRouter(prefix="/v1/auth", tags=["auth"], route_class=GalleyRoute)
accounts = APIRouter(prefix="/v1", tags=["accounts"], route_class=GalleyRoute)

_FORM = "application/x-www-form-urlencoded"
# The form is read into Credentials, so its fields have the same rules.
_FORM_FIELDS = Credentials.model_json_schema()["properties"]


def user_view(user: User, keys: DataKeys) -> UserOut:
    found = service.account(user, keys)
    return UserOut.model_validate(asdict(found) | {"id": str(found.id)})


def key_view(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(
        {**{f: getattr(key, f) for f in ApiKeyOut.model_fields if f != "id"}, "id": str(key.id)}
    )


async def _credentials(request: Request) -> Credentials:
    """JSON, or the OAuth2 password form the interactive docs send."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == _FORM:
            form = parse_qs((await request.body()).decode(errors="replace"))
            return Credentials(
                email=form.get("username", [""])[0], password=form.get("password", [""])[0]
            )
        return Credentials.model_validate_json(await request.body())
    except ValidationError as exc:
        raise InvalidRequest(
            "Send an e-mail address and a password.",
            [
                FieldError(field=".".join(map(str, e["loc"])) or "body", message=e["msg"])
                for e in exc.errors()
            ],
        ) from None


@auth.post(
    "/token",
    response_model=TokenPair,
    responses=problem_responses(400, 401, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": Credentials.model_json_schema()},
                _FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {
                            "username": _FORM_FIELDS["email"],
                            "password": _FORM_FIELDS["password"],
                        },
                    }
                },
            },
        }
    },
    summary="Log in: an access token and a refresh token",
)
async def log_in(
    request: Request,
    session: Session,
    settings: AppSettings,
    throttle: AppThrottle,
    address: ClientAddress,
) -> TokenPair:
    """Failed log-ins to one account from one address are limited
    (`GALLEY_RATE_LIMIT_LOGIN_FAILURES`): past the limit every attempt is 429, with the right
    password too, until `Retry-After` has passed."""
    given = await _credentials(request)
    account = service.normal_email(given.email)
    await throttle.spend_login_attempt(account, address, refused=LoginThrottled)
    tokens = await settled(
        session,
        service.log_in(session, given.email, given.password, settings, origin_of(request)),
        settings,
    )
    await throttle.forget_login_failures(account, address)
    return tokens


@auth.post("/refresh", response_model=TokenPair, responses=problem_responses(400, 401, 415, 422))
async def refresh(body: RefreshRequest, session: Session, settings: AppSettings) -> TokenPair:
    """Trade a refresh token for a new pair; each refresh token works once."""
    return await service.refresh(session, body.refresh_token, settings)


@auth.post(
    "/logout",
    status_code=204,
    dependencies=[requires("account:read")],
    responses=problem_responses(400, 401, 415, 422),
)
async def log_out(body: RefreshRequest, session: Session) -> Response:
    """Revoke the refresh token and every token issued from the same login."""
    await service.log_out(session, body.refresh_token)
    return Response(status_code=204)


@auth.post(
    "/register",
    status_code=201,
    response_model=UserOut,
    responses=problem_responses(400, 403, 409, 413, 415, 422),
    summary="A customer signs up",
)
async def register(
    body: Registration,
    request: Request,
    session: Session,
    settings: AppSettings,
    throttle: AppThrottle,
    address: ClientAddress,
) -> UserOut:
    """Sign-ups from one address are limited (`GALLEY_RATE_LIMIT_SIGNUPS`)."""
    if settings.signup == "closed":
        raise SignupClosed()
    await throttle.spend_signup(address)
    user = await settled(
        session,
        service.create_user(
            session,
            body.email,
            body.password,
            "customer",
            settings.sealing_keys,
            origin=origin_of(request),
            name=body.name,
            phone=body.phone,
        ),
        settings,
    )
    return user_view(user, settings.sealing_keys)


@accounts.get(
    "/me",
    response_model=Me,
    dependencies=[requires("account:read")],
    responses=problem_responses(401),
)
async def me(principal: CurrentPrincipal, session: Session, keys: Keys) -> Me:
    scopes = None if principal.scopes is None else sorted(principal.scopes)
    me = Me(kind=principal.kind, id=str(principal.id), role=principal.role, scopes=scopes)
    if principal.kind == "user" and principal.id is not None:
        found = service.account(await session.get_one(User, principal.id), keys)
        me = me.model_copy(update={"email": found.email, "name": found.name, "phone": found.phone})
    return me


@accounts.post(
    "/users",
    status_code=201,
    response_model=UserOut,
    dependencies=[requires("users:write")],
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422),
    summary="An administrator creates an account (staff, manager, admin or customer)",
)
async def create_user(
    body: UserCreate, session: Session, settings: AppSettings, origin: RequestOrigin
) -> UserOut:
    keys = settings.sealing_keys
    user = await settled(
        session,
        service.create_user(
            session,
            body.email,
            body.password,
            body.role,
            keys,
            origin=origin,
            name=body.name,
            phone=body.phone,
        ),
        settings,
    )
    return user_view(user, keys)


UserId = Annotated[str, Path(pattern=r"^[1-9][0-9]{0,17}$", examples=["12"])]


@accounts.get(
    "/users/{user_id}",
    response_model=UserOut,
    dependencies=[requires("users:write")],
    responses=problem_responses(401, 403, 404, 422),
)
async def get_user(user_id: UserId, request: Request, session: Session, keys: Keys) -> Response:
    return resource_response(request, user_view(await service.find_user(session, user_id), keys))


@accounts.patch(
    "/users/{user_id}",
    response_model=UserOut,
    dependencies=[requires("users:write")],
    responses=problem_responses(400, 401, 403, 404, 409, 412, 413, 415, 422),
    summary="Change a role or disable an account; send If-Match to avoid overwriting others",
)
async def change_user(
    user_id: UserId,
    body: UserChange,
    request: Request,
    session: Session,
    settings: AppSettings,
    origin: RequestOrigin,
) -> Response:
    keys = settings.sealing_keys
    user = await service.find_user(session, user_id, for_update=True)
    check_if_match(request, user_view(user, keys))
    changed = await settled(session, service.change_user(session, user, body, origin), settings)
    forget_callers(request)
    return resource_response(request, user_view(changed, keys))


@accounts.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    dependencies=[requires("api_keys:manage")],
    responses=problem_responses(400, 401, 403, 413, 415, 422),
    summary="A key for an integration; its secret is shown once",
)
async def create_api_key(
    body: ApiKeyCreate,
    session: Session,
    settings: AppSettings,
    origin: RequestOrigin,
    principal: CurrentPrincipal,
) -> ApiKeyCreated:
    key, secret = await settled(
        session,
        service.create_api_key(session, body, origin, grantor=principal.permissions),
        settings,
    )
    return ApiKeyCreated(**key_view(key).model_dump(), secret=secret)


@accounts.get(
    "/api-keys",
    response_model=list[ApiKeyOut],
    dependencies=[requires("api_keys:manage")],
    responses=problem_responses(401, 403),
)
async def list_api_keys(session: Session) -> list[ApiKeyOut]:
    return [key_view(key) for key in await service.list_api_keys(session)]


@accounts.delete(
    "/api-keys/{key_id}",
    status_code=204,
    dependencies=[requires("api_keys:manage")],
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_api_key(
    key_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")],
    request: Request,
    session: Session,
    settings: AppSettings,
    origin: RequestOrigin,
) -> Response:
    """Revoked at once: the next request with it is refused, and within
    `GALLEY_PRINCIPAL_CACHE_SECONDS` in every other process."""
    await settled(session, service.revoke_api_key(session, key_id, origin), settings)
    forget_callers(request)
    return Response(status_code=204)
