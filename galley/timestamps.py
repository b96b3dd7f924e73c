"""Times as the API reads them: RFC 3339 with a zone, and nothing else."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, Strict, WithJsonSchema

RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339 = re.compile(RFC3339)


def _rfc3339_only(value: object) -> object:
    """Pydantic would also read `0.5` as a Unix time; the API speaks RFC 3339 with a zone."""
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise ValueError("must be an RFC 3339 time with a zone, such as 2026-11-21T10:15:00Z")


# Read from text in strict request models too, which would take only a datetime object.
Timestamp = Annotated[
    AwareDatetime,
    Strict(False),
    BeforeValidator(_rfc3339_only),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339}),
]
