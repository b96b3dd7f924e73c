"""The one settings object, read from `GALLEY_*` environment variables and `.env`."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import unquote, urlsplit

from limits import RateLimitItem, parse_many
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DRIVERS = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A DNS name or an IP literal (urlsplit drops an IPv6 literal's brackets).
_ORIGIN_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*|[0-9a-f:.]+")

_RATES = (
    "rate_limit_login_failures",
    "rate_limit_signups",
    "rate_limit_requests",
    "rate_limit_orders",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GALLEY_", env_file=".env", extra="ignore", frozen=True
    )

    # The embedded default needs no server; production points this at PostgreSQL.
    database_url: str = "sqlite+aiosqlite:///./var/galley.db"
    # Prices and totals are in one shop currency; a mixed-currency order has no total.
    currency: str = "EUR"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "console"
    # 8-16 connections: a hot stock row gets slower, not faster, with more writers.
    database_pool_size: int = Field(default=10, ge=1, le=100)
    # SQLite serializes writers; a writer waits this long for its turn before failing.
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)
    # A PostgreSQL server that has not let a connection in within this long is taken as
    # down, and the request answers 503: on one network a connection takes milliseconds,
    # and 5 s outlasts a lost packet sent again (after 1 s, then 3 s), while asyncpg's own
    # default, a minute, would hold every request, and each pool slot, that long.
    database_connect_timeout_seconds: float = Field(default=5, gt=0, le=300)
    # Every statement on PostgreSQL, waiting for row locks included, must be answered within
    # this long, or the database is taken as not answering (503) and the connection closed.
    # Galley's statements take milliseconds and its locks are held as briefly; 15 s, as long
    # as a SQLite writer waits for its turn, is far beyond any wait that would end well.
    database_statement_timeout_seconds: float = Field(default=15, gt=0, le=3600)
    # A request waits this long for a connection of the pool to come free before it answers
    # 503: with requests of milliseconds a slot frees within a few, so a longer wait means
    # the connections are stuck on a database that does not answer.
    database_pool_timeout_seconds: float = Field(default=5, gt=0, le=300)
    # /readyz asks the database, Redis and RabbitMQ at once and gives each this long, so it
    # answers within about 2 s whatever hangs: inside the 5 s load balancers commonly allow
    # a health check (a Kubernetes readiness probe needs timeoutSeconds of 3 or more).
    readiness_timeout_seconds: float = Field(default=2, gt=0, le=60)
    # Largest request body accepted; anything larger is 413 before it is parsed.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Drafts of suppliers with auto_send go out at most once per this many seconds per
    # location, so a busy hour sends one order rather than hundreds; 0 sends each at once.
    purchasing_batch_seconds: float = Field(default=0, ge=0, le=86_400)
    # Keys that sign access tokens, "kid:secret,kid:secret" (secrets base64url, 32+ bytes).
    # The first signs; all verify, so a new key goes first and the old one stays a while.
    jwt_keys: str = ""
    # Keys that seal personal data at rest, "kid:secret,…" like the JWT keys (each its own
    # secret). The first seals; all open, so a new key goes first and `galley keys rotate`
    # re-seals the rows before the old key is dropped.
    data_keys: str = ""
    # Short-lived, so a revoked user or changed role is locked out within minutes.
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # "closed" stops customers signing themselves up.
    signup: Literal["open", "closed"] = "open"
    # Active products can be read without a token (a shop's public catalog).
    public_catalog: bool = True
    # Run the event worker inside each API process (`galley serve --with-worker`), for
    # setups too small for a `galley worker` of their own.
    with_worker: bool = False
    # How often an idle worker looks for new events: the most an event waits when the
    # worker is idle.
    events_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    # RabbitMQ, amqp://user:password@host:5672/vhost (or amqps://): the relay publishes
    # events to it and each consumer takes them from a queue of its own there, in any
    # number of workers. Empty hands events to the consumers in-process, still through the
    # outbox, so one machine needs no broker and loses nothing.
    broker_url: str = ""
    # How many times a consumer tries an event before it sets it aside as a dead letter
    # (in RabbitMQ, or the database without a broker): enough to ride out a restart of
    # whatever the consumer calls, few enough that an event that can never succeed stops
    # coming back within minutes.
    events_max_attempts: int = Field(default=10, ge=1, le=100)
    # The first retry waits this long and each next one twice as long, at most an hour:
    # 1 s, 2 s, 4 s … 256 s, so with 10 attempts an event is retried for about 8.5 minutes.
    events_retry_seconds: float = Field(default=1, ge=0.001, le=3600)
    # Webhooks (docs/events.md, "Webhooks"). Plain http would show every event, and its
    # signature, to anyone on the way; true allows it, for development only.
    webhooks_allow_insecure: bool = False
    # URLs that resolve to private, loopback, link-local or cloud metadata addresses are
    # refused, so that a webhook cannot make Galley call into its own network; true
    # allows them, for development against a receiver on the same machine.
    webhooks_allow_private: bool = False
    # Seconds from one attempt of a delivery to the next (the first from when the event
    # is queued), each spread by up to a fifth either way so that an endpoint back from
    # an outage is not hit by all its retries at once. The default spans about 27 hours:
    # a receiver down overnight still gets everything.
    webhooks_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    # An endpoint that has answered nothing but failures for this long is disabled
    # (seconds, or an ISO 8601 duration such as P5D): long enough to outlast a weekend,
    # short enough not to keep knocking on a receiver that is gone.
    webhooks_disable_after: dt.timedelta = Field(default=dt.timedelta(days=5), gt=dt.timedelta(0))
    # An attempt must be answered within this many seconds, looking up the name and
    # connecting included; later counts as a failure.
    webhooks_timeout_seconds: float = Field(default=10, gt=0, le=60)
    # Where purchase orders are e-mailed to suppliers: smtp://user:password@host:587
    # (STARTTLS when the server offers it), smtp+starttls:// (STARTTLS required) or
    # smtps://host:465 (TLS from the start). Empty e-mails nothing: a purchase order for a
    # supplier with an e-mail address then shows its e-mail as skipped.
    smtp_url: str = ""
    # The sender of those e-mails, such as "Galley <purchasing@shop.example>"; required
    # with GALLEY_SMTP_URL, since a mail server refuses or mis-files mail from nobody.
    smtp_from: str = ""
    # A mail server that has not accepted a message in this long is tried again later.
    smtp_timeout_seconds: float = Field(default=30, gt=0, le=300)
    # A live stream sends a comment this often when nothing happens, so that proxies,
    # which close connections idle for a minute or so, keep it open.
    stream_heartbeat_seconds: float = Field(default=15, gt=0, le=300)
    # Served at /metrics when true.
    metrics_enabled: bool = True
    # Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: IPs or CIDR
    # networks, comma-separated. Empty trusts none, because from anyone else those headers
    # are forged at will: a fake client address (dodging its rate limit) or a fake https.
    trusted_proxies: str = ""
    # Origins (scheme://host[:port]) of the browser front-ends that may call the API, exact
    # and comma-separated. Empty sends no CORS headers: scripts on other sites, including
    # any page a shop's staff happens to open, cannot read the API through their browsers.
    cors_origins: str = ""

    # Where rate-limit budgets are kept when several API processes must share them
    # (redis:// or rediss://). Empty keeps each process's budgets in its own memory, which
    # is right for one process and lets N processes allow N times each budget.
    redis_url: str = ""
    # Every key Galley writes to Redis starts with this, so several deployments (or test
    # runs) can share one server without spending each other's budgets.
    redis_key_prefix: str = Field(default="galley", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # Rate limits are "N/period": "10/minute", "5/15 minutes", "100/day".
    # Failed log-ins per account and client address: someone who mistypes stays well
    # below 5; a guesser gets at most 480 tries a day at one account from one address.
    rate_limit_login_failures: str = "5/15 minutes"
    # Sign-ups per client address: a household or an office behind one address signs up
    # a few people an hour; a script creating accounts in bulk stops at 10.
    rate_limit_signups: str = "10/hour"
    # Requests per API key or user (anonymous callers per client address): 20 a second,
    # sustained, is more than a person or an ordinary integration needs; a runaway loop
    # or a scraper is cut off.
    rate_limit_requests: str = "1200/minute"
    # Orders per customer account: nobody places more than 10 in a minute by hand; a bot
    # buying up scarce stock would.
    rate_limit_orders: str = "10/minute"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if not _CURRENCY.match(value):
            raise ValueError("must be an ISO 4217 code such as EUR")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_driver(cls, value: str) -> str:
        if not value.startswith(_DRIVERS):
            raise ValueError("must start with " + " or ".join(_DRIVERS))
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must start with redis:// or rediss://, or be empty")
        return value

    @field_validator("broker_url")
    @classmethod
    def _amqp_url(cls, value: str) -> str:
        if value:
            check_broker_url(value)
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if value:
            parse_smtp_url(value)
        return value

    @model_validator(mode="after")
    def _smtp_sender(self) -> Settings:
        if self.smtp_url and not self.smtp_from:
            raise ValueError("GALLEY_SMTP_FROM must be set with GALLEY_SMTP_URL")
        return self

    @field_validator("webhooks_disable_after", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """A plain number is seconds, as in every other setting."""
        if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*", value):
            return float(value)
        return value

    @field_validator(
        *_RATES,
        "jwt_keys",
        "data_keys",
        "trusted_proxies",
        "cors_origins",
        "webhooks_retry_schedule",
    )
    @classmethod
    def _parses(cls, value: str, info: ValidationInfo) -> str:
        """Kept as written; checked here by the parser that reads it where it is used."""
        _PARSERS[str(info.field_name)](value)
        return value

    @property
    def signing_keys(self) -> list[tuple[str, bytes]]:
        return parse_keys(self.jwt_keys)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def proxy_networks(self) -> list[str]:
        return [str(network) for network in parse_networks(self.trusted_proxies)]

    @property
    def allowed_origins(self) -> list[str]:
        return parse_origins(self.cors_origins)

    @property
    def smtp_server(self) -> SmtpServer | None:
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

    @property
    def webhook_retry_delays(self) -> list[float]:
        return parse_schedule(self.webhooks_retry_schedule)


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


def parse_networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """IP addresses or CIDR networks, comma-separated; a lone address is a network of one."""
    networks = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or network such as 10.0.0.0/8"
            ) from None
    return networks


def parse_origins(value: str) -> list[str]:
    """Exact origins, comma-separated, each `scheme://host[:port]` as a browser sends it.

    A wildcard is refused: the list says which sites' scripts may read the API's answers
    through a visitor's browser, and `*` would say every site's may.
    """
    origins = []
    for item in filter(None, (part.strip() for part in value.split(","))):
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
        origins.append(f"{parts.scheme}://{host}")
    return origins


def check_broker_url(value: str) -> None:
    """amqp:// or amqps://, a host and, if any, a numeric port. The message never repeats
    the URL: it holds a password."""
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname or not port_ok:
        raise ValueError(
            "must be amqp://user:password@host:5672/vhost (or amqps://), or empty for none"
        )


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    # "implicit": TLS from the start; "required": STARTTLS or nothing; "opportunistic":
    # STARTTLS when the server offers it.
    tls: Literal["implicit", "required", "opportunistic"]


_SMTP_SCHEMES: dict[str, tuple[Literal["implicit", "required", "opportunistic"], int]] = {
    "smtp": ("opportunistic", 25),
    "smtp+starttls": ("required", 587),
    "smtps": ("implicit", 465),
}


def parse_smtp_url(value: str) -> SmtpServer:
    """smtp://, smtp+starttls:// or smtps://, with a host. The message never repeats the
    URL: it holds a password."""
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if parts.scheme not in _SMTP_SCHEMES or not parts.hostname or port == 0:
        raise ValueError(
            "must be smtp://user:password@host:587, smtp+starttls://… or smtps://…:465, "
            "or empty for none"
        )
    tls, default_port = _SMTP_SCHEMES[parts.scheme]
    return SmtpServer(
        hostname=parts.hostname,
        port=port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
    )


def parse_rate(value: str) -> RateLimitItem:
    """One rate, "N/period" ("10/minute", "5/15 minutes"), of at least one per period."""
    try:
        rates = parse_many(value)
    except ValueError:
        rates = []
    # The parser reads a period of "0 minutes" as one minute; say so rather than guess.
    zero_period = re.search(r"(/|per)\s*0+\s*[a-z]", value, re.IGNORECASE)
    if len(rates) != 1 or rates[0].amount < 1 or zero_period:
        raise ValueError(f"must be one rate such as 10/minute or 5/15 minutes, not {value!r}")
    return rates[0]


def parse_schedule(value: str) -> list[float]:
    """Delays in seconds, comma-separated ("0,5,300"): one per attempt, at least one."""
    try:
        delays = [float(part) for part in value.split(",")]
    except ValueError:
        delays = []
    if not delays or len(delays) > 50 or not all(math.isfinite(d) and d >= 0 for d in delays):
        raise ValueError(
            f"must be 1 to 50 delays in seconds, comma-separated, such as 0,5,300, not {value!r}"
        )
    return delays


_PARSERS: dict[str, Callable[[str], object]] = {
    "jwt_keys": parse_keys,
    "data_keys": parse_keys,
    "trusted_proxies": parse_networks,
    "cors_origins": parse_origins,
    "webhooks_retry_schedule": parse_schedule,
}
_PARSERS.update(dict.fromkeys(_RATES, parse_rate))


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


def require_keys(settings: Settings, *names: Literal["jwt_keys", "data_keys"]) -> None:
    """Stop start-up when a key ring the process needs is empty."""
    for name in names:
        if not getattr(settings, name):
            raise SettingsError(
                f"invalid setting GALLEY_{name.upper()}: missing; set kid:secret pairs "
                "(`galley dev-keys` writes development keys)"
            )


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "GALLEY_" + str(first["loc"][0]).upper() if first["loc"] else "GALLEY_*"
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
