"""A webhook receiver on a free local port: it keeps every request and answers as told."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
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
        body = await read_body(receive)
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


async def read_body(receive: Any) -> bytes:
    """An ASGI request's whole body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


@contextmanager
def serving(receiver: Receiver, tls: tuple[Path, Path] | None = None) -> Iterator[Receiver]:
    """Serve `receiver` on 127.0.0.1, over TLS with `tls` (a certificate and its key)."""
    with serve_asgi(receiver, tls) as base:
        receiver.url = f"{base}/hooks"
        yield receiver


@contextmanager
def serve_asgi(app: Any, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve the ASGI `app` on a free port of 127.0.0.1 in a thread; its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
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
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
