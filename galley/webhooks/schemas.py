from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from galley.events.service import EventType

# Anything but control characters and spaces, which no URL needs.
URL_PATTERN = r"^[^\x00-\x20\x7f]+$"
# Free text: anything but NUL, which PostgreSQL cannot store.
TEXT_PATTERN = r"^[^\x00]*$"

DeliveryStatus = Literal["pending", "succeeded", "failed"]
DisabledReason = Literal["by_request", "failing"]

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        pattern=URL_PATTERN,
        description="Where events are POSTed: https, on a public address.",
        examples=["https://hooks.example.com/galley"],
    ),
]
EventTypes = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=50,
        description="The event types sent to this endpoint.",
        examples=[["order.placed", "order.cancelled"]],
    ),
]
Description = Annotated[str, Field(max_length=500, pattern=TEXT_PATTERN)]


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: Url
    event_types: EventTypes
    description: Description | None = None


class WebhookEndpointPatch(BaseModel):
    """Only the fields sent change; `description: null` clears it. `enabled: true` resumes
    the endpoint's pending deliveries at once."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: Url = None  # type: ignore[assignment]
    event_types: EventTypes = None  # type: ignore[assignment]
    description: Description | None = None
    enabled: bool = None  # type: ignore[assignment]


class WebhookEndpointOut(BaseModel):
    id: str = Field(examples=["7"])
    url: str
    description: str | None
    event_types: list[EventType]
    enabled: bool
    disabled_reason: DisabledReason | None = Field(
        description="`by_request` when disabled through the API, `failing` when Galley "
        "disabled it after its deliveries failed for `GALLEY_WEBHOOKS_DISABLE_AFTER`."
    )
    failing_since: dt.datetime | None = Field(
        description="The first failed attempt since the last success."
    )
    previous_secret_expires_at: dt.datetime | None = Field(
        description="Until then the secret replaced by the last rotation signs too."
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookEndpointWithSecret(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret. Shown this once: keep it, it is never shown again.",
        examples=["whsec_Z2FsbGV5IGV4YW1wbGUsIG5ldmVyIGEgcmVhbCBrZXk="],
    )


class WebhookAttemptOut(BaseModel):
    attempted_at: dt.datetime
    status_code: int | None = Field(description="The receiver's status; null when none came.")
    duration_ms: int
    response_body: str | None = Field(description="The first KiB of the answer.")
    error: str | None = Field(description="Why no answer came: a timeout, a refused address…")


class WebhookDeliveryOut(BaseModel):
    id: str = Field(examples=["42"])
    event_id: str = Field(examples=["evt_019a4f3c2b1e3f9d2c7a11e0b4d5"])
    event_type: EventType
    status: DeliveryStatus
    next_attempt_at: dt.datetime | None = Field(
        description="While pending: when the next attempt is due (or, while one is under "
        "way, when it is given up for lost)."
    )
    created_at: dt.datetime
    attempts: list[WebhookAttemptOut]
