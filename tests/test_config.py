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
