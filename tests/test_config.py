from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from galley.config import SettingsError, UnknownSetting, load_settings, unknown_settings
from galley.logs import configure_logging


def test_origins_are_kept_as_a_browser_sends_them() -> None:
    settings = load_settings(
        cors_origins="https://Shop.Example.com, https://admin.example.com:443,"
        " http://localhost:5173, http://[::1]:8080"
    )
    assert settings.cors_origins == [
        "https://shop.example.com",
        "https://admin.example.com",
        "http://localhost:5173",
        "http://[::1]:8080",
    ]


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://*.example.com",
        "shop.example.com",
        "https://shop.example.com/",
        "https://shop.example.com/app",
        "https://shop.example.com?x=1",
        "https://user:pw@shop.example.com",
        "ftp://shop.example.com",
        "https://shop.example.com:99999",
        "null",
    ],
)
def test_anything_but_an_exact_origin_is_refused(origin: str) -> None:
    with pytest.raises(SettingsError, match=r"GALLEY_CORS_ORIGINS.*not an origin"):
        load_settings(cors_origins=origin)


def test_trusted_proxies_are_addresses_or_networks() -> None:
    settings = load_settings(trusted_proxies="127.0.0.1, 10.0.0.0/8 ,fd00::/8")
    assert [str(network) for network in settings.trusted_proxies] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "fd00::/8",
    ]
    assert load_settings().trusted_proxies == []
    assert load_settings().cors_origins == []


@pytest.mark.parametrize("proxies", ["localhost", "*", "10.0.0.1/8", "10.0.0.0/33"])
def test_a_trusted_proxy_that_is_no_address_is_refused(proxies: str) -> None:
    with pytest.raises(SettingsError, match="GALLEY_TRUSTED_PROXIES"):
        load_settings(trusted_proxies=proxies)


def test_a_mail_server_url_says_how_to_reach_it() -> None:
    sender = {"smtp_from": "purchasing@shop.example"}
    plain = load_settings(smtp_url="smtp://mail.example", **sender).smtp_url
    assert plain is not None
    assert (plain.hostname, plain.port, plain.username, plain.tls) == (
        "mail.example",
        25,
        None,
        "opportunistic",
    )
    required = load_settings(smtp_url="smtp+starttls://bot%40shop:p%2Fw@mx:2525", **sender)
    server = required.smtp_url
    assert server is not None
    assert server.username == "bot@shop"
    assert server.password is not None
    assert server.password.get_secret_value() == "p/w"
    assert (server.port, server.tls) == (2525, "required")
    implicit = load_settings(smtp_url="smtps://mx", **sender).smtp_url
    assert implicit is not None
    assert (implicit.port, implicit.tls) == (465, "implicit")
    assert load_settings().smtp_url is None


@pytest.mark.parametrize(
    "url", ["mail.example", "http://mail.example", "smtp://", "smtp://user:hunter2@mx:0"]
)
def test_a_malformed_mail_server_url_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(SettingsError, match="GALLEY_SMTP_URL") as refused:
        load_settings(smtp_url=url, smtp_from="purchasing@shop.example")
    assert "hunter2" not in str(refused.value)


def test_a_mail_server_needs_a_sender() -> None:
    with pytest.raises(SettingsError, match="GALLEY_SMTP_FROM"):
        load_settings(smtp_url="smtp://mail.example")


# Secrets of every kind a setting holds, each a string that must show nowhere.
JWT_SECRET = "and0LXNlY3JldC1qd3Qtc2VjcmV0LWp3dC1zZWNyZXQh"
DATA_SECRET = "ZGF0YS1zZWNyZXQtZGF0YS1zZWNyZXQtZGF0YS1zZWNyZXQ"
PASSWORDS = ["db-hunter2", "mq-hunter2", "redis-hunter2", "smtp-hunter2"]
SECRET_SETTINGS = {
    "jwt_keys": f"jwt1:{JWT_SECRET}",
    "data_keys": f"data1:{DATA_SECRET}",
    "database_url": "postgresql://galley:db-hunter2@db.internal:5432/shop",
    "broker_url": "amqp://galley:mq-hunter2@mq.internal:5672/shop",
    "redis_url": "redis://:redis-hunter2@cache.internal:6379/0",
    "smtp_url": "smtp://bot:smtp-hunter2@mx.internal:587",
    "smtp_from": "purchasing@shop.example",
}


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_no_secret_shows_in_the_settings_however_they_are_shown(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(**SECRET_SETTINGS)
    configure_logging("INFO", log_format)
    structlog.get_logger("test").info("settings.read", settings=settings)
    structlog.get_logger("test").info("settings.dumped", **settings.model_dump())
    shown = {
        "repr": repr(settings),
        "str": str(settings),
        "model_dump": str(settings.model_dump()),
        "model_dump_json": settings.model_dump_json(),
        "log": capsys.readouterr().err,
    }
    for secret in [JWT_SECRET, DATA_SECRET, *PASSWORDS]:
        for how, text in shown.items():
            assert secret not in text, how
    # What each points at stays readable.
    for where in ["db.internal", "mq.internal", "cache.internal", "mx.internal", "jwt1", "data1"]:
        assert where in shown["repr"]


def test_secrets_are_there_for_the_code_that_uses_them() -> None:
    settings = load_settings(**SECRET_SETTINGS)
    assert settings.database_url.password == "db-hunter2"
    assert "mq-hunter2" in settings.broker_url.get_secret_value()
    assert "redis-hunter2" in settings.redis_url.get_secret_value()
    assert settings.smtp_url is not None
    assert settings.smtp_url.password is not None
    assert settings.smtp_url.password.get_secret_value() == "smtp-hunter2"
    [(kid, secret)] = settings.signing_keys
    assert (kid, len(secret)) == ("jwt1", 33)


@pytest.mark.parametrize(
    "given",
    [
        "postgresql://galley:pw@db.internal:5433/shop",
        "postgres://galley:pw@db.internal:5433/shop",
        "postgresql+asyncpg://galley:pw@db.internal:5433/shop",
    ],
)
def test_a_postgresql_url_is_run_with_asyncpg(given: str) -> None:
    url = load_settings(database_url=given).database_url
    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "galley",
        "pw",
        "db.internal",
        5433,
        "shop",
    )


@pytest.mark.parametrize("given", ["sqlite:///./var/shop.db", "sqlite+aiosqlite:///./var/shop.db"])
def test_a_sqlite_url_is_run_with_aiosqlite(given: str) -> None:
    settings = load_settings(database_url=given)
    assert settings.is_sqlite
    assert (settings.database_url.drivername, settings.database_url.database) == (
        "sqlite+aiosqlite",
        "./var/shop.db",
    )


@pytest.mark.parametrize(
    "given",
    [
        "mysql://galley:hunter2@db/shop",
        "postgresql+psycopg://galley:hunter2@db/shop",
        "galley:hunter2@db/shop",
        "",
    ],
)
def test_another_database_url_is_refused_without_repeating_it(given: str) -> None:
    with pytest.raises(
        SettingsError, match="GALLEY_DATABASE_URL: must be postgresql://"
    ) as refused:
        load_settings(database_url=given)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ZZZ", "'ZZZ' is no ISO 4217 currency in use"),
        ("DEM", "'DEM' is no ISO 4217 currency in use"),
        ("XAU", "XAU has no minor unit"),
    ],
)
def test_the_shop_currency_is_one_iso_4217_prices_things_in(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"GALLEY_CURRENCY: {message}"):
        load_settings(currency=value)
    assert load_settings(currency="CLF").currency == "CLF"


def test_a_name_that_is_no_setting_is_found_with_the_closest_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("GALLEY_LOG_LEVLE=DEBUG\nGALLEY_CURRENCY=EUR\nPATH_X=1\n")
    environ = {
        "GALLEY_DATABSE_URL": "postgresql://db/shop",
        "GALLEY_DATABASE_URL": "sqlite:///x.db",
        "GALLEY_TEST_POSTGRES_URL": "postgresql://db/test",
        "GALLEY_NOTHING_LIKE_IT": "1",
        "HOME": "/root",
    }
    assert unknown_settings(environ) == [
        UnknownSetting("GALLEY_DATABSE_URL", "environment", "GALLEY_DATABASE_URL"),
        UnknownSetting("GALLEY_NOTHING_LIKE_IT", "environment", None),
        UnknownSetting("GALLEY_LOG_LEVLE", ".env", "GALLEY_LOG_LEVEL"),
    ]
