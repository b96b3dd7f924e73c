"""An endpoint as the API shows it, and the secrets its deliveries are signed with."""

from __future__ import annotations

from galley.webhooks.models import WebhookEndpoint
from galley.webhooks.schemas import WebhookEndpointOut
from galley.webhooks.secrets import SigningSecrets

SECRETS = SigningSecrets("webhook_endpoints")


def view(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut.model_validate(
        {
            **{f: getattr(endpoint, f) for f in WebhookEndpointOut.model_fields if f != "id"},
            "id": str(endpoint.id),
        }
    )
