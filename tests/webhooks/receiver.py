"""A webhook receiver on a free local port: it keeps every request and answers as told."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from standardwebhooks import Webhook

from tests.live import free_port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    def verified_by(self, secret: str) -> dict[str, Any]:
        """The event, once the signature checks out with `secret` (raises otherwise)."""
        return dict(Webhook(secret).verify(self.body, self.headers))


@dataclass
class Receiver:
    """Answers `status`, except that the first requests get `first` in turn; waits
    `delay` seconds before answering; `location` goes into every answer's headers."""

    status: int = 200
    first: list[int] = field(default_factory=list)
    delay: float = 0.0
    answer: bytes = b"thanks"
    location: str | None = None
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.received.append(Received(scope["path"], headers, body))
        status = self.first.pop(0) if self.first else self.status
        if self.delay:
            await asyncio.sleep(self.delay)
        extra = [(b"location", self.location.encode())] if self.location else []
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": self.answer})
        self.answered.append(status)

    def events(self, *, succeeded: bool = False) -> list[dict[str, Any]]:
        """The events received, in order; only those answered 2xx when `succeeded`."""
        pairs = zip(self.received, self.answered, strict=False)
        return [r.event for r, status in pairs if not succeeded or 200 <= status < 300]


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for the DNS name `host` alone, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "receiver-cert.pem", directory / "receiver-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextmanager
def serving(receiver: Receiver, tls: tuple[Path, Path] | None = None) -> Iterator[Receiver]:
    """Serve `receiver` on 127.0.0.1, over TLS with `tls` (a certificate and its key)."""
    port = free_port()
    config = uvicorn.Config(
        receiver,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ssl_certfile=tls and str(tls[0]),
        ssl_keyfile=tls and str(tls[1]),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the receiver stopped"
        assert time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.01)
    receiver.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/hooks"
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(10)
