"""The one settings object, read from `GALLEY_*` environment variables and `.env`.

Each value is parsed once, when the settings are read, into the type it is used as
(`galley.config_values`): the database URL as the engine's URL, networks, origins, key
rings, rates and delays. Secrets are held so that `repr`, `str`, `model_dump()` and log
lines show them masked: the key rings as their kids, URLs without their passwords.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

from dotenv import dotenv_values
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url

from galley.config_values import (
    BrokerUrl,
    DatabaseUrl,
    KeyRing,
    Keys,
    Networks,
    Origins,
    Rate,
    RedisUrl,
    Schedule,
    SecretUrl,
    SmtpUrl,
    parse_rate,
)
from galley.money import minor_units
from galley.privacy.keys import DataKeys, data_keys

# The test suite's own variables (where its PostgreSQL, Redis and RabbitMQ are), no settings.
_NOT_SETTINGS = "GALLEY_TEST_"


class Settings(BaseSettings):
    # Values are read as written, never as JSON: lists are comma-separated.
    model_config = SettingsConfigDict(
        env_prefix="GALLEY_", env_file=".env", extra="ignore", frozen=True, enable_decoding=False
    )

    # The embedded default needs no server; production points this at PostgreSQL
    # (postgresql://user:password@host:5432/name).
    database_url: DatabaseUrl = make_url("sqlite+aiosqlite:///./var/galley.db")
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
    jwt_keys: Keys = KeyRing(())
    # Keys that seal personal data at rest, "kid:secret,…" like the JWT keys (each its own
    # secret). The first seals; all open, so a new key goes first and `galley keys rotate`
    # re-seals the rows before the old key is dropped.
    data_keys: Keys = KeyRing(())
    # How long a process keeps a caller's account or API key as it read it, rather than
    # reading it on every request: a revoked key, a changed role or a disabled account
    # counts in every other process within this long (at once in the process that made
    # the change). 0 reads the account on every request.
    principal_cache_seconds: float = Field(default=1, ge=0, le=60)
    # How long after a change commits any process may still answer a catalog read
    # (GET /v1/products, /v1/products/{sku}) as it was before: each keeps its reads at most
    # this long, and forgets them at once when a change commits in it (with
    # GALLEY_REDIS_URL, in any process). A second is unnoticeable to a shopper, while a
    # busy catalog is read from the database once a second per page, not on every request.
    # 0 reads the database every time.
    cache_max_staleness_ms: int = Field(default=1000, ge=0, le=60_000)
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
    # How long a busy worker lets events gather after a round that found fewer than a
    # full batch: each round costs its transactions however few events it finds, so a
    # steady trickle is taken in fuller rounds, each event waiting at most this much more.
    events_gather_seconds: float = Field(default=0.05, ge=0, le=5)
    # RabbitMQ, amqp://user:password@host:5672/vhost (or amqps://): the relay publishes
    # events to it and each consumer takes them from a queue of its own there, in any
    # number of workers. Empty hands events to the consumers in-process, still through the
    # outbox, so one machine needs no broker and loses nothing.
    broker_url: BrokerUrl = SecretUrl("")
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
    webhooks_retry_schedule: Schedule = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
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
    smtp_url: SmtpUrl = None
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
    trusted_proxies: Networks = []
    # Origins (scheme://host[:port]) of the browser front-ends that may call the API, exact
    # and comma-separated. Empty sends no CORS headers: scripts on other sites, including
    # any page a shop's staff happens to open, cannot read the API through their browsers.
    cors_origins: Origins = []

    # Where rate-limit budgets and catalog reads are kept when several API processes must
    # share them (redis:// or rediss://). Empty keeps each process's in its own memory,
    # which is right for one process and lets N processes allow N times each budget.
    redis_url: RedisUrl = SecretUrl("")
    # Every key Galley writes to Redis starts with this, so several deployments (or test
    # runs) can share one server without spending each other's budgets.
    redis_key_prefix: str = Field(default="galley", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # Rate limits are "N/period": "10/minute", "5/15 minutes", "100/day".
    # Failed log-ins per account and client address: someone who mistypes stays well
    # below 5; a guesser gets at most 480 tries a day at one account from one address.
    rate_limit_login_failures: Rate = parse_rate("5/15 minutes")
    # Sign-ups per client address: a household or an office behind one address signs up
    # a few people an hour; a script creating accounts in bulk stops at 10.
    rate_limit_signups: Rate = parse_rate("10/hour")
    # Requests per API key or user (anonymous callers per client address): 20 a second,
    # sustained, is more than a person or an ordinary integration needs; a runaway loop
    # or a scraper is cut off.
    rate_limit_requests: Rate = parse_rate("1200/minute")
    # Orders per customer account: nobody places more than 10 in a minute by hand; a bot
    # buying up scarce stock would.
    rate_limit_orders: Rate = parse_rate("10/minute")

    # Which gateway takes payments: the sandbox (in process, its outcomes chosen by test
    # tokens, galley.payments.sandbox) or Stripe (its keys below).
    payments_gateway: Literal["sandbox", "stripe"] = "sandbox"
    # Stripe's secret API key (sk_live_… or sk_test_… in test mode), and the signing
    # secret of the webhook endpoint made for Galley in Stripe's dashboard (whsec_…).
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # Where Stripe's API is: only tests point it elsewhere (a local stand-in).
    stripe_api_base: str | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        minor_units(value)
        return value

    @model_validator(mode="after")
    def _stripe_keys(self) -> Settings:
        if self.payments_gateway == "stripe" and not (
            self.stripe_api_key and self.stripe_webhook_secret
        ):
            raise ValueError(
                "GALLEY_PAYMENTS_GATEWAY=stripe needs GALLEY_STRIPE_API_KEY and "
                "GALLEY_STRIPE_WEBHOOK_SECRET"
            )
        return self

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

    @property
    def signing_keys(self) -> list[tuple[str, bytes]]:
        return list(self.jwt_keys.get_secret_value())

    @property
    def sealing_keys(self) -> DataKeys:
        """The ring that seals and opens personal data (`GALLEY_DATA_KEYS`)."""
        return data_keys(self.data_keys)

    @property
    def purchasing_batch_window(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.purchasing_batch_seconds)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.get_backend_name() == "sqlite"


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
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {name}: {message}") from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()


class UnknownSetting(NamedTuple):
    name: str
    # "environment" or the env file's name.
    source: str
    # The setting of the closest name, if one is close.
    suggestion: str | None


def unknown_settings(environ: dict[str, str] | None = None) -> list[UnknownSetting]:
    """`GALLEY_*` names in the environment and the env file that are no setting: ignored
    without a word, a typo (GALLEY_DATABSE_URL) would leave the default in force."""
    known = [name.upper() for name in Settings.model_fields]
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    sources = {"environment": list(os.environ if environ is None else environ)}
    if env_file.is_file():
        sources[str(env_file)] = list(dotenv_values(env_file))
    found = []
    for source, names in sources.items():
        for name in sorted({name.upper() for name in names}):
            if not name.startswith("GALLEY_") or name.startswith(_NOT_SETTINGS):
                continue
            # Compared without the prefix they all share, which would make any two close.
            setting = name.removeprefix("GALLEY_")
            if setting not in known:
                close = difflib.get_close_matches(setting, known, n=1)
                suggestion = f"GALLEY_{close[0]}" if close else None
                found.append(UnknownSetting(name, source, suggestion))
    return found
