"""structlog set-up: JSON lines in production, readable lines on a console."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
# Log lines carry no secrets and no personal data: events name ids, never people. What
# slips through anyway is caught here. A value under a key naming one of these is dropped…
_SENSITIVE_KEY = re.compile(
    r"authori[sz]ation|cookie|passw|passphrase|secret|token|api_?key"
    r"|e_?mail|phone|address|(customer|full|first|last|given|family)_?name|birth|iban",
    re.IGNORECASE,
)
# …and these shapes are cut out of any text, exception messages and traces included.
_SENSITIVE_TEXT = re.compile(
    r"[\w.+%'-]{1,64}@[\w-]+(?:\.[\w-]+)+"  # an e-mail address
    r"|(?P<scheme>\bbearer\s+)[\w.~+/=-]+"  # a credential in an Authorization header
    r"|(?P<key>\b[a-z]{2,8}_(?:live|test)_)[\w-]+"  # a prefixed key (gk_live_…, sk_test_…)
    r"|\beyJ[\w-]*\.[\w-]*\.[\w-]*",  # a JSON web token
    re.IGNORECASE,
)


def _hide(match: re.Match[str]) -> str:
    return (match["scheme"] or match["key"] or "") + REDACTED


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _SENSITIVE_TEXT.sub(_hide, value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _SENSITIVE_KEY.search(str(key)) else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the last step before a line is rendered."""
    scrubbed: MutableMapping[str, Any] = _scrub(event)
    return scrubbed


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stderr` as it is when a line is written, not as it was when logging
    was configured: a command run in-process (a test's) swaps it for a while."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _stderr_logger(*_: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)


def configure_logging(level: str, fmt: str) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redact, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library; send them through the same renderer.
    handler = _Stderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # One line per request comes from Galley itself.
    logging.getLogger("uvicorn.access").disabled = True
    # SQLAlchemy's INFO lines are pool chatter ("Pool disposed"), from its own loggers and
    # the one named after Galley's pool class; a database that is down is one event of
    # Galley's own, not a run of lines around it.
    for name in ("sqlalchemy", "galley.outages"):
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
