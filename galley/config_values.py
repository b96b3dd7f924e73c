"""The values settings hold, each parsed once into the type it is used as, and each secret
held masked: key rings show their kids, URLs `user:***@host`."""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from limits import RateLimitItem, parse_many
from pydantic import (
    AmqpDsn,
    AnyUrl,
    BeforeValidator,
    IPvAnyNetwork,
    PlainSerializer,
    PlainValidator,
    RedisDsn,
    Secret,
    SecretStr,
    TypeAdapter,
    UrlConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

# What each accepted scheme of GALLEY_DATABASE_URL is run with.
_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A DNS name or an IP literal (urlsplit drops an IPv6 literal's brackets).
_ORIGIN_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*|[0-9a-f:.]+")


def parse_database_url(value: object) -> URL:
    """postgresql:// (or postgres://, postgresql+asyncpg://) or sqlite:/// (or
    sqlite+aiosqlite:///), as the URL the engine is made from. The message never repeats
    the URL: it holds a password."""
    url = value if isinstance(value, URL) else None
    if isinstance(value, str):
        try:
            url = make_url(value.strip())
        except ArgumentError:
            url = None
    if url is None or url.drivername not in _DRIVERS:
        raise ValueError(
            "must be postgresql://user:password@host:5432/name or sqlite:///path/to/file.db"
        )
    return url.set(drivername=_DRIVERS[url.drivername])


def database_at(url: URL) -> str:
    """Which database a URL names, for people: its name, host, port, driver and user, or
    SQLite's file; never the password."""
    if url.get_backend_name() == "sqlite":
        path = url.database
        where = "in memory" if path in (None, "", ":memory:") else str(Path(path).resolve())
        return f"{where} ({url.drivername})"
    user = f", user {url.username}" if url.username else ""
    return (
        f"{url.database} on {url.host or 'localhost'}:{url.port or 5432} ({url.drivername}{user})"
    )


DatabaseUrl = Annotated[
    URL,
    PlainValidator(parse_database_url),
    PlainSerializer(lambda url: url.render_as_string(hide_password=True)),
]


class KeyRing(Secret[tuple[tuple[str, bytes], ...]]):
    """`(kid, secret)` pairs; shown as their kids, never a secret. The first is current."""

    def _display(self) -> str:
        return ",".join(f"{kid}:**********" for kid, _ in self.get_secret_value())

    def __len__(self) -> int:
        return len(self.get_secret_value())


def parse_keys(value: str) -> list[tuple[str, bytes]]:
    """`kid:secret` pairs, comma-separated; each secret base64url of at least 32 bytes."""
    keys = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        kid, _, secret = item.partition(":")
        try:
            raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        except (ValueError, binascii.Error):
            raise ValueError(f"key {kid!r} is not base64url") from None
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", kid) or len(raw) < 32:
            raise ValueError("each key is kid:secret with a secret of 32 or more bytes")
        keys.append((kid, raw))
    return keys


def key_ring(value: object) -> KeyRing:
    """A key ring from `kid:secret,kid:secret` as GALLEY_JWT_KEYS and GALLEY_DATA_KEYS hold."""
    if isinstance(value, KeyRing):
        return value
    if not isinstance(value, str):
        raise ValueError("must be kid:secret pairs, comma-separated")
    return KeyRing(tuple(parse_keys(value)))


Keys = Annotated[KeyRing, PlainValidator(key_ring)]


class SecretUrl(SecretStr):
    """A URL that may hold a password: shown with the password masked, so what it points
    at stays readable in `repr` and logs."""

    def _display(self) -> str:
        url = self.get_secret_value()
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user, _, host = parts.netloc.rpartition("@")
        return parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}").geturl()


def _service_url(kind: Any, message: str) -> PlainValidator:
    """A URL checked by pydantic's `kind`, with a host and a port other than 0, or empty
    for none. Kept as written, for the client that connects. The message never repeats the
    URL: it holds a password."""
    adapter: TypeAdapter[AnyUrl] = TypeAdapter(kind)

    def checked(value: object) -> SecretUrl:
        if isinstance(value, SecretUrl):
            return value
        if value is None or value == "":
            return SecretUrl("")
        try:
            url = adapter.validate_python(value)
        except ValidationError:
            raise ValueError(message) from None
        if not url.host or url.port == 0:
            raise ValueError(message)
        return SecretUrl(str(value))

    return PlainValidator(checked)


# Shown with the password masked.
_MASKED = PlainSerializer(str)
# Empty is none: falsy, like an empty string.
BrokerUrl = Annotated[
    SecretUrl,
    _MASKED,
    _service_url(
        AmqpDsn, "must be amqp://user:password@host:5672/vhost (or amqps://), or empty for none"
    ),
]
RedisUrl = Annotated[
    SecretUrl,
    _MASKED,
    _service_url(RedisDsn, "must start with redis:// or rediss://, or be empty"),
]


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: SecretStr | None
    # "implicit": TLS from the start; "required": STARTTLS or nothing; "opportunistic":
    # STARTTLS when the server offers it.
    tls: Literal["implicit", "required", "opportunistic"]


_SMTP_SCHEMES: dict[str, tuple[Literal["implicit", "required", "opportunistic"], int]] = {
    "smtp": ("opportunistic", 25),
    "smtp+starttls": ("required", 587),
    "smtps": ("implicit", 465),
}
_SMTP_URL: TypeAdapter[AnyUrl] = TypeAdapter(
    Annotated[AnyUrl, UrlConstraints(allowed_schemes=list(_SMTP_SCHEMES), host_required=True)]
)


def parse_smtp_url(value: object) -> SmtpServer | None:
    """smtp://, smtp+starttls:// or smtps://, with a host; empty is none. The message never
    repeats the URL: it holds a password."""
    if isinstance(value, SmtpServer):
        return value
    if value is None or value == "":
        return None
    try:
        url = _SMTP_URL.validate_python(value)
    except ValidationError:
        url = None
    if url is None or not url.host or url.port == 0:
        raise ValueError(
            "must be smtp://user:password@host:587, smtp+starttls://… or smtps://…:465, "
            "or empty for none"
        )
    tls, default_port = _SMTP_SCHEMES[url.scheme]
    return SmtpServer(
        hostname=url.host,
        port=url.port or default_port,
        username=unquote(url.username) if url.username else None,
        password=SecretStr(unquote(url.password)) if url.password is not None else None,
        tls=tls,
    )


SmtpUrl = Annotated[
    SmtpServer | None,
    PlainValidator(parse_smtp_url),
    # Its repr, which masks the password.
    PlainSerializer(lambda server: None if server is None else repr(server)),
]


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _say(message: str) -> WrapValidator:
    """pydantic's own parsing, with a message of ours naming the value instead of its own."""

    def parsed(value: object, handler: ValidatorFunctionWrapHandler) -> object:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(message.format(value=value)) from None

    return WrapValidator(parsed)


# IP addresses or CIDR networks, comma-separated; a lone address is a network of one.
Networks = Annotated[
    list[
        Annotated[
            IPvAnyNetwork, _say("{value!r} is not an IP address or network such as 10.0.0.0/8")
        ]
    ],
    BeforeValidator(_comma_separated),
]


def parse_origin(item: str) -> str:
    """An exact origin, `scheme://host[:port]` as a browser sends it.

    A wildcard is refused: the list says which sites' scripts may read the API's answers
    through a visitor's browser, and `*` would say every site's may.
    """
    parts = urlsplit(item)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or not _ORIGIN_HOST.fullmatch(parts.hostname)
        or parts.username is not None
        or (parts.path, parts.query, parts.fragment) != ("", "", "")
        or item.endswith(("?", "#"))
        or port == -1
    ):
        raise ValueError(
            f"{item!r} is not an origin such as https://shop.example.com "
            "(scheme://host[:port]; no path, no *)"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    # Browsers leave the default port out of the Origin header they send.
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


Origins = Annotated[
    list[Annotated[str, PlainValidator(lambda item: parse_origin(str(item)))]],
    BeforeValidator(_comma_separated),
]


def parse_rate(value: object) -> RateLimitItem:
    """One rate, "N/period" ("10/minute", "5/15 minutes"), of at least one per period."""
    if isinstance(value, RateLimitItem):
        return value
    text = str(value)
    try:
        rates = parse_many(text)
    except ValueError:
        rates = []
    # The parser reads a period of "0 minutes" as one minute; say so rather than guess.
    zero_period = re.search(r"(/|per)\s*0+\s*[a-z]", text, re.IGNORECASE)
    if len(rates) != 1 or rates[0].amount < 1 or zero_period:
        raise ValueError(f"must be one rate such as 10/minute or 5/15 minutes, not {text!r}")
    return rates[0]


Rate = Annotated[RateLimitItem, PlainValidator(parse_rate), PlainSerializer(str)]


def parse_schedule(value: object) -> list[float]:
    """Delays in seconds, comma-separated ("0,5,300"): one per attempt, at least one."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        delays = [float(part) for part in parts]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        delays = []
    if not delays or len(delays) > 50 or not all(math.isfinite(d) and d >= 0 for d in delays):
        raise ValueError(
            f"must be 1 to 50 delays in seconds, comma-separated, such as 0,5,300, not {value!r}"
        )
    return delays


Schedule = Annotated[list[float], PlainValidator(parse_schedule)]
