"""The webhook rules, without a server: schedule, disabling, URLs and addresses."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galley.config import SettingsError, load_settings
from galley.webhooks.rules import (
    JITTER,
    address_problem,
    retry_delay,
    should_disable,
    succeeded,
    url_problem,
)

DEFAULT = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def test_the_first_attempt_is_immediate_whatever_the_draw() -> None:
    assert retry_delay(DEFAULT, 0, 0.0) == 0
    assert retry_delay(DEFAULT, 0, 0.999) == 0


def test_the_default_schedule_retries_seven_times_then_gives_up() -> None:
    assert [retry_delay(DEFAULT, n, 0.5) for n in range(8)] == DEFAULT
    assert retry_delay(DEFAULT, 8, 0.5) is None


@given(
    schedule=st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=20),
    attempts=st.integers(min_value=0, max_value=25),
    spread=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_each_delay_stays_within_the_jitter_of_its_schedule(
    schedule: list[float], attempts: int, spread: float
) -> None:
    delay = retry_delay(schedule, attempts, spread)
    if attempts >= len(schedule):
        assert delay is None
        return
    assert delay is not None
    scheduled = schedule[attempts]
    assert scheduled * (1 - JITTER) - 1e-9 <= delay <= scheduled * (1 + JITTER) + 1e-9


@given(spreads=st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), min_size=2))
def test_a_later_draw_never_gives_a_shorter_delay(spreads: list[float]) -> None:
    delays = [retry_delay(DEFAULT, 3, s) for s in sorted(spreads)]
    assert delays == sorted(delays)  # type: ignore[type-var]


def test_an_endpoint_is_disabled_only_after_failing_long_enough() -> None:
    five_days = dt.timedelta(days=5)
    assert not should_disable(None, NOW, five_days)
    assert not should_disable(NOW - dt.timedelta(days=4, hours=23), NOW, five_days)
    assert should_disable(NOW - five_days, NOW, five_days)
    assert should_disable(NOW - dt.timedelta(days=9), NOW, five_days)


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        (200, True),
        (204, True),
        (299, True),
        (301, False),
        (307, False),
        (400, False),
        (500, False),
        (199, False),
    ],
)
def test_only_a_2xx_is_a_success(status: int, ok: bool) -> None:
    assert succeeded(status) is ok


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/galley",
        "https://hooks.example.com:8443/galley?shop=1",
        "https://93.184.216.34/in",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/in",
        "https://xn--bcher-kva.example/hook",
        "https://" + "a" * 63 + ".example/",
    ],
)
def test_https_urls_are_accepted(url: str) -> None:
    assert url_problem(url, allow_insecure=False) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/", "must be an https URL"),
        ("ftp://hooks.example.com/", "must be an https URL"),
        ("hooks.example.com/galley", "must be an https URL"),
        ("https:///path-only", "needs a host name or an IP address"),
        ("https://bad_host!/", "needs a host name or an IP address"),
        ("https://" + "0" * 64 + ".example/", "needs a host name or an IP address"),
        ("https://" + "a." * 127 + "example/", "needs a host name or an IP address"),
        ("https://user:pw@hooks.example.com/", "must not carry credentials"),
        ("https://hooks.example.com/#part", "must not have a fragment"),
        ("https://hooks.example.com:0/", "needs a port between 1 and 65535"),
        ("https://hooks.example.com:99999/", "is not a valid URL"),
        ("https://[::1/", "is not a valid URL"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url: str, problem: str) -> None:
    found = url_problem(url, allow_insecure=False)
    assert str(found).startswith(problem)


def test_plain_http_is_accepted_only_when_insecure_is_allowed() -> None:
    assert url_problem("http://hooks.example.com/", allow_insecure=True) is None
    assert url_problem("ftp://hooks.example.com/", allow_insecure=True) == "must be an http(s) URL"


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.10", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("100.64.0.1", "not a public address"),
        ("169.254.10.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        # IPv4 addresses inside IPv6 ones: mapped, 6to4 and NAT64.
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("2002:0a00:0001::1", "a private address"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),
    ],
)
def test_addresses_inside_the_network_are_refused(address: str, problem: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_the_retry_schedule_and_disable_after_settings_are_read() -> None:
    settings = load_settings(webhooks_retry_schedule="0, 1.5,60", webhooks_disable_after="3600")
    assert settings.webhooks_retry_schedule == [0, 1.5, 60]
    assert settings.webhooks_disable_after == dt.timedelta(hours=1)
    assert load_settings(webhooks_disable_after="P5D").webhooks_disable_after.days == 5


@pytest.mark.parametrize("schedule", ["", "5,,6", "5,-1", "soon", "nan", "inf"])
def test_a_malformed_retry_schedule_stops_start_up(schedule: str) -> None:
    with pytest.raises(SettingsError, match="GALLEY_WEBHOOKS_RETRY_SCHEDULE"):
        load_settings(webhooks_retry_schedule=schedule)
