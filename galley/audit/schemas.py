from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class AuditEventOut(BaseModel):
    id: str
    occurred_at: dt.datetime
    kind: str = Field(examples=["login.failed"])
    actor: str = Field(
        examples=["user:7"], description="Who acted: user:ID, api_key:ID, anonymous or cli."
    )
    subject: str | None = Field(examples=["user:12"], description="Whom or what it concerned.")
    address: str | None = Field(description="The client's address.")
    request_id: str | None
    data: dict[str, Any] | None
