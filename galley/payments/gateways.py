"""The gateway the settings name (`GALLEY_PAYMENTS_GATEWAY`), built once per process."""

from __future__ import annotations

import base64

from galley.config import Settings
from galley.payments.gateway import Gateway
from galley.payments.sandbox import SandboxGateway
from galley.payments.stripe_gateway import StripeGateway


def gateway_for(settings: Settings) -> Gateway:
    key, secret = settings.stripe_api_key, settings.stripe_webhook_secret
    if settings.payments_gateway == "stripe" and key and secret:  # both, say the settings
        return StripeGateway(
            key.get_secret_value(), secret.get_secret_value(), api_base=settings.stripe_api_base
        )
    return SandboxGateway(sandbox_secret(settings))


def sandbox_secret(settings: Settings) -> str:
    """The Standard Webhooks secret the sandbox signs its notices with: derived from the
    data keys, so that nobody without them forges a sandbox payment's confirmation."""
    derived = settings.sealing_keys.derived("sandbox notices v1")
    return "whsec_" + base64.b64encode(derived).decode()
