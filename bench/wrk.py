"""Running wrk with a scenario script and reading the JSON its `done()` prints."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent / "wrk"
_RESULT = "BENCH-RESULT "
_THREAD_DONE = "BENCH-THREAD-DONE"


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        sys.exit("bench: wrk is not installed; install it with `apt-get install wrk`.")
    return found


@dataclass(frozen=True)
class Load:
    """How hard to push: wrk's threads and connections, and for how long."""

    threads: int
    connections: int
    seconds: float


@dataclass(frozen=True)
class Outcome:
    requests: int
    seconds: float
    errors: dict[str, int]
    latency_ms: dict[str, float]
    counts: dict[str, int]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _parse(output: str) -> Outcome:
    line = next((x for x in output.splitlines() if x.startswith(_RESULT)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
    found: dict[str, Any] = json.loads(line[len(_RESULT) :])
    return Outcome(
        requests=found["requests"],
        seconds=found["duration_us"] / 1e6,
        errors=found["errors"],
        latency_ms={k: v / 1000 for k, v in found["latency_us"].items()},
        counts=found["counts"],
    )


def _command(script: str, base: str, load: Load, args: list[str]) -> list[str]:
    command = [require_wrk(), f"-t{load.threads}", f"-c{load.connections}"]
    command += [f"-d{max(1, round(load.seconds))}s", "--timeout", "10s"]
    return [*command, "-s", str(SCRIPTS / script), base, "--", *args]


def run(script: str, base: str, load: Load, args: list[str]) -> Outcome:
    done = subprocess.run(
        _command(script, base, load, args),
        capture_output=True,
        text=True,
        timeout=load.seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}")
    return _parse(done.stdout)


def run_until_done(script: str, base: str, load: Load, args: list[str]) -> Outcome:
    """Run a script whose threads each print BENCH-THREAD-DONE when their work is done,
    stopping wrk then (`load.seconds` is the most it may take)."""
    process = subprocess.Popen(
        _command(script, base, load, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lines: list[str] = []
    finished = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append(raw.decode())
            if sum(x.startswith(_THREAD_DONE) for x in lines) == load.threads:
                finished.set()
        finished.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    finished.wait(load.seconds + 5)
    elapsed = time.monotonic() - started
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    reader.join(timeout=10)
    outcome = _parse("".join(lines))
    # wrk's own duration runs to the signal; the work ended when the last thread did.
    return Outcome(outcome.requests, elapsed, outcome.errors, outcome.latency_ms, outcome.counts)
