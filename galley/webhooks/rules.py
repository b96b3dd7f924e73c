"""Webhook rules: when to try again, when to give up on an endpoint, and which URLs and
addresses Galley refuses to call. Plain functions, no I/O."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Each scheduled delay is stretched or shrunk by up to this fraction, at random.
JITTER = 0.2
# After a rotation the previous secret signs too, this long: time to roll the new one out.
ROTATION_OVERLAP = dt.timedelta(hours=24)
# What is kept of each answer.
KEPT_ANSWER_BYTES = 1024
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
# The standard metadata addresses of cloud machines, which hand out credentials.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
# A DNS name (IDNs in their xn-- form) or an IP literal (urlsplit drops IPv6 brackets).
_HOST = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def retry_delay(schedule: Sequence[float], attempts: int, spread: float) -> float | None:
    """Seconds before attempt number `attempts + 1`, or None when the schedule is spent.

    `spread` (0 ≤ spread < 1, a random draw) places the delay within ±JITTER of the
    scheduled one, so the retries of many deliveries that failed together drift apart.
    """
    if attempts >= len(schedule):
        return None
    return schedule[attempts] * (1 - JITTER + 2 * JITTER * spread)


def should_disable(
    failing_since: dt.datetime | None, now: dt.datetime, disable_after: dt.timedelta
) -> bool:
    """An endpoint that has failed, with no success in between, for `disable_after`."""
    return failing_since is not None and now - failing_since >= disable_after


def succeeded(status_code: int) -> bool:
    """Only a 2xx counts: a redirect is not followed, so it is a failure too."""
    return 200 <= status_code < 300


def url_problem(url: str, *, allow_insecure: bool) -> str | None:
    """Why a URL cannot be an endpoint, as far as can be told without looking its name up;
    None when it can."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    schemes = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme not in schemes:
        return "must be an https URL" if not allow_insecure else "must be an http(s) URL"
    if not parts.hostname or not _is_host(parts.hostname):
        return "needs a host name or an IP address"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials; receivers verify the signature instead"
    if parts.fragment or url.endswith("#"):
        return "must not have a fragment"
    if port == 0:
        return "needs a port between 1 and 65535"
    return None


def target(url: str) -> tuple[str, int]:
    """The host to look up and the port to connect to, of a URL `url_problem` accepts."""
    parts: SplitResult = urlsplit(url)
    assert parts.hostname is not None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _is_host(host: str) -> bool:
    if _HOST.fullmatch(host):
        # DNS: at most 63 characters a label and 253 in all (RFC 1035).
        labels = host.rstrip(".").split(".")
        return len(host.rstrip(".")) <= 253 and all(len(label) <= 63 for label in labels)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def address_problem(address: IPAddress) -> str | None:
    """Why Galley must not connect to `address` (server-side request forgery); None for
    a public address. Addresses carried inside IPv6 ones are checked as well."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_problem(address.ipv4_mapped)  # a connection to it goes to the IPv4 one
    for inner in _embedded(address):
        problem = address_problem(inner)
        if problem:
            return problem
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 one carries (6to4, Teredo, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found = [address.sixtofour, *(address.teredo or ())]
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [inner for inner in found if inner is not None]
