"""A real SMTP server on a free local port (aiosmtpd): it keeps every message it accepts,
and refuses the first ones when told to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller

from tests.live import free_port


@dataclass
class Mailbox:
    """Accepts every message, except that the first `refuse` get a temporary refusal."""

    refuse: int = 0
    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    url: str = ""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        content = cast(bytes, envelope.content)
        self.received.append(cast(EmailMessage, message_from_bytes(content, policy=policy.default)))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Accepted"


@contextmanager
def serving(mailbox: Mailbox) -> Iterator[Mailbox]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    mailbox.url = f"smtp://127.0.0.1:{port}"
    try:
        yield mailbox
    finally:
        controller.stop()
