from __future__ import annotations

import pytest

from galley.config import SettingsError, load_settings


def test_origins_are_kept_as_a_browser_sends_them() -> None:
    settings = load_settings(
        cors_origins="https://Shop.Example.com, https://admin.example.com:443,"
        " http://localhost:5173, http://[::1]:8080"
    )
    assert settings.allowed_origins == [
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
    assert settings.proxy_networks == ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]
    assert load_settings().proxy_networks == []
    assert load_settings().allowed_origins == []


@pytest.mark.parametrize("proxies", ["localhost", "*", "10.0.0.1/8", "10.0.0.0/33"])
def test_a_trusted_proxy_that_is_no_address_is_refused(proxies: str) -> None:
    with pytest.raises(SettingsError, match="GALLEY_TRUSTED_PROXIES"):
        load_settings(trusted_proxies=proxies)


def test_a_mail_server_url_says_how_to_reach_it() -> None:
    sender = {"smtp_from": "purchasing@shop.example"}
    plain = load_settings(smtp_url="smtp://mail.example", **sender).smtp_server
    assert plain is not None
    assert (plain.hostname, plain.port, plain.username, plain.tls) == (
        "mail.example",
        25,
        None,
        "opportunistic",
    )
    required = load_settings(smtp_url="smtp+starttls://bot%40shop:p%2Fw@mx:2525", **sender)
    assert required.smtp_server is not None
    assert (required.smtp_server.username, required.smtp_server.password) == ("bot@shop", "p/w")
    assert (required.smtp_server.port, required.smtp_server.tls) == (2525, "required")
    implicit = load_settings(smtp_url="smtps://mx", **sender).smtp_server
    assert implicit is not None
    assert (implicit.port, implicit.tls) == (465, "implicit")
    assert load_settings().smtp_server is None


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
