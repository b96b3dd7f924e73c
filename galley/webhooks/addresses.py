"""Where a webhook URL leads: its name looked up, and every address it resolves to checked
against those Galley refuses to call (`rules.address_problem`).

The check runs when an endpoint is registered or changed, and again before every
attempt, since a name can be pointed elsewhere at any time. An attempt then connects to
an address this check returned, not to the name, so the name cannot be re-pointed
between the check and the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from galley.webhooks import rules
from galley.webhooks.rules import IPAddress


class RefusedUrl(Exception):
    """The URL cannot be called; the message says why, as the end of "url …"."""


async def allowed_addresses(
    url: str, *, allow_insecure: bool, allow_private: bool
) -> list[IPAddress]:
    """The addresses to connect to for `url`, in the resolver's order; RefusedUrl when the
    URL is refused, its name does not resolve, or any address it resolves to is refused
    (one bad address is enough: the connection could go to any of them)."""
    problem = rules.url_problem(url, allow_insecure=allow_insecure)
    if problem:
        raise RefusedUrl(problem)
    host, port = rules.target(url)
    addresses = await _resolve(host, port)
    if not allow_private:
        for address in addresses:
            problem = rules.address_problem(address)
            if problem:
                raise RefusedUrl(f"leads to {address}, {problem}")
    return addresses


async def _resolve(host: str, port: int) -> list[IPAddress]:
    """Callers bound the time a lookup may take (`asyncio.timeout`)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise RefusedUrl(f"has a host name ({host}) that does not resolve") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in found:
        # A scoped IPv6 address ("fe80::1%eth0") is link-local, refused either way.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise RefusedUrl(f"has a host name ({host}) that does not resolve")
    return addresses
