"""Real `galley serve` and `galley worker` processes, for tests that need real HTTP and
several processes."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

# Making a TLS context loads the CA bundle, which costs more CPU than a request to a local
# server: every client of a live server shares this one (a client made per request spent
# most of the suite's time on the slowest tests).
TLS = ssl.create_default_context()


def http(base: str, headers: Mapping[str, str] | None = None, **options: Any) -> httpx.Client:
    """A client of a live server at `base`."""
    return httpx.Client(base_url=base, headers=headers, verify=TLS, **options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    database_url: str,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    log_file: Path | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[str]:
    """Start `galley serve` on a free port; yield its base URL; stop it afterwards.

    `env` adds to or overrides the server's environment; `log_file` receives everything the
    server writes (stdout and stderr); `tls` is a (certificate, key) pair to serve HTTPS with.
    """
    port = free_port()
    environment = os.environ | {"GALLEY_DATABASE_URL": database_url, "GALLEY_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "galley", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    if tls is not None:
        command += ["--ssl-certfile", str(tls[0]), "--ssl-keyfile", str(tls[1])]
    scheme = "https" if tls is not None else "http"
    with ExitStack() as files:
        # A file, never a pipe: a pipe nobody reads fills up and stops the server mid-write.
        log: IO[bytes] = files.enter_context(
            log_file.open("w+b") if log_file else tempfile.TemporaryFile()  # noqa: SIM115
        )
        process = subprocess.Popen(
            command, env=environment | dict(env or {}), stdout=log, stderr=log
        )
        base = f"{scheme}://127.0.0.1:{port}"
        try:
            _wait_until_ready(base, process, tls[0] if tls else None, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(
    base: str,
    process: subprocess.Popen[bytes],
    certificate: Path | None,
    log: IO[bytes],
    seconds: float = 60,
) -> None:
    verify = ssl.create_default_context(cafile=certificate) if certificate else TLS
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base, verify=verify, timeout=1) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                error = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"galley serve exited with {process.returncode}: {error}")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError("galley serve did not become ready in time")


@contextmanager
def running_worker(
    database_url: str,
    *,
    env: Mapping[str, str] | None = None,
    output: IO[bytes] | int | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `galley worker`; stop it with SIGTERM afterwards, unless the test already
    stopped or killed it. `output` receives what it writes (nothing is kept by default)."""
    sink = subprocess.DEVNULL if output is None else output
    process = subprocess.Popen(
        [sys.executable, "-m", "galley", "worker"],
        env=os.environ | dict(env or {}) | {"GALLEY_DATABASE_URL": database_url},
        stdout=sink,
        stderr=sink,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
