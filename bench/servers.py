"""The processes under test: `galley serve`, `galley worker`, and the bare reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.processes import command_line, descendants
from tests.auth import TEST_DATA_KEYS, TEST_JWT_KEYS
from tests.live import free_port

ROOT = Path(__file__).resolve().parent.parent

# Settings of every Galley process in the run. The load comes from a few customers and
# one API key, as fast as the server takes it: the limits would measure themselves.
GALLEY_ENV = {
    "GALLEY_JWT_KEYS": TEST_JWT_KEYS,
    "GALLEY_DATA_KEYS": TEST_DATA_KEYS,
    # Warnings and errors only, as JSON lines, counted by `logged_events` afterwards.
    "GALLEY_LOG_LEVEL": "WARNING",
    "GALLEY_LOG_FORMAT": "json",
    "GALLEY_RATE_LIMIT_REQUESTS": "100000000/minute",
    "GALLEY_RATE_LIMIT_ORDERS": "100000000/minute",
    # Tokens must outlive the run.
    "GALLEY_ACCESS_TOKEN_MINUTES": "240",
}


@dataclass(frozen=True)
class Server:
    base: str
    roles: dict[int, str]


# What `galley serve` says on standard output as it starts: not a warning.
_SAYS_WHERE = "galley: serving database "


def logged_events(logs: Path, examples: int = 3) -> dict[str, Any]:
    """How often each event was logged by the Galley processes whose logs are in `logs`
    (`database.unavailable`, …), by level, and the first `examples` lines of each as they
    were logged (Galley's logs hold no personal data), since the logs go with the run's
    temporary folder; a line that is not JSON counts as `other` with its first 80
    characters, so that the results say what it was."""
    counts: Counter[str] = Counter()
    lines: dict[str, list[str]] = {}
    for log in sorted(logs.glob("serve-*.log")) + sorted(logs.glob("worker-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if line.strip() and not line.startswith(_SAYS_WHERE):
                    counts[f"other {line.strip()[:80]}"] += 1
                continue
            if isinstance(entry, dict):
                # An event is a dotted name; a stray message's first line stands for it.
                event = str(entry.get("event", "?")).splitlines()[0][:80]
                name = f"{entry.get('level', '?')} {event}"
                counts[name] += 1
                if len(shown := lines.setdefault(name, [])) < examples:
                    shown.append(line[:2000])
    return {"counts": dict(counts.most_common()), "lines": lines}


def galley_environment(database_url: str) -> dict[str, str]:
    return os.environ | GALLEY_ENV | {"GALLEY_DATABASE_URL": database_url}


@contextmanager
def _process(
    command: list[str], env: Mapping[str, str], log: Path, ready: str | None
) -> Iterator[subprocess.Popen[bytes]]:
    """A process writing to `log` (a file: a pipe nobody reads would stop it), stopped
    afterwards; with `ready`, once that URL answers 200."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output, cwd=ROOT)
        try:
            if ready is not None:
                _wait_until_ready(ready, process, log)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 90
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time; see {log}")


def _roles(pid: int, name: str, workers: int, seconds: float = 30) -> dict[int, str]:
    """The process and its `workers` children, once they are all there."""
    deadline = time.monotonic() + seconds
    while True:
        tree = descendants(pid)
        children = [p for p in tree if p != pid]
        if workers == 1 or len(children) >= workers or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    roles = {pid: f"{name} master" if workers > 1 else name}
    serving = [p for p in sorted(children) if "resource_tracker" not in command_line(p)]
    for n, child in enumerate(serving, 1):
        roles[child] = f"{name} worker {n}"
    for child in set(children) - set(serving):
        roles[child] = f"{name} resource tracker"
    return roles


@contextmanager
def galley(database_url: str, workers: int, logs: Path, *, events: bool = True) -> Iterator[Server]:
    """`galley serve --workers N` and, with `events`, one `galley worker` beside it."""
    port = free_port()
    env = galley_environment(database_url)
    serve = [sys.executable, "-m", "galley", "serve", "--port", str(port)]
    serve += ["--workers", str(workers)]
    with ExitStack() as stack:
        api = stack.enter_context(
            _process(serve, env, logs / f"serve-{port}.log", f"http://127.0.0.1:{port}/readyz")
        )
        roles = _roles(api.pid, "api", workers)
        if events:
            job = stack.enter_context(worker(database_url, logs))
            roles[job.pid] = "events worker"
        yield Server(f"http://127.0.0.1:{port}", roles)


@contextmanager
def worker(database_url: str, logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`galley worker`: publishes the outbox and runs the consumers."""
    command = [sys.executable, "-m", "galley", "worker"]
    log = logs / f"worker-{free_port()}.log"
    with _process(command, galley_environment(database_url), log, None) as process:
        yield process


@contextmanager
def bare(page: Path, product: Path, workers: int, logs: Path) -> Iterator[Server]:
    """Starlette on uvicorn with the loop and parser Galley uses, answering from memory."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.bare:app", "--port", str(port)]
    command += ["--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
    command += ["--log-level", "warning", "--no-access-log"]
    env = os.environ | {"BENCH_PAGE": str(page), "BENCH_PRODUCT": str(product)}
    env["PYTHONPATH"] = str(ROOT)
    ready = f"http://127.0.0.1:{port}/healthz"
    with _process(command, env, logs / f"bare-{port}.log", ready) as process:
        yield Server(f"http://127.0.0.1:{port}", _roles(process.pid, "api", workers))
