"""Which gateway the settings give, and that Stripe's keys are secrets."""

from __future__ import annotations

import pytest

from galley.config import SettingsError, load_settings
from galley.payments.gateways import gateway_for, sandbox_secret
from galley.payments.sandbox import SandboxGateway
from galley.payments.stripe_gateway import StripeGateway
from tests.auth import TEST_DATA_KEYS

STRIPE = {
    "payments_gateway": "stripe",
    "stripe_api_key": "sk_test_hunter2hunter2",
    "stripe_webhook_secret": "whsec_hunter3hunter3",
    "data_keys": TEST_DATA_KEYS,
}


def test_the_sandbox_is_the_default_and_signs_with_a_secret_of_the_data_keys() -> None:
    settings = load_settings(data_keys=TEST_DATA_KEYS)
    assert isinstance(gateway_for(settings), SandboxGateway)
    secret = sandbox_secret(settings)
    assert secret.startswith("whsec_")
    assert secret == sandbox_secret(load_settings(data_keys=TEST_DATA_KEYS))
    other = "data2:" + "b3RoZXItZGF0YS1rZXktb3RoZXItZGF0YS1rZXktb3RoZXI"
    assert secret != sandbox_secret(load_settings(data_keys=other))


def test_stripe_takes_its_keys_which_show_nowhere() -> None:
    settings = load_settings(**STRIPE)
    assert isinstance(gateway_for(settings), StripeGateway)
    shown = repr(settings) + settings.model_dump_json()
    assert "hunter2" not in shown
    assert "hunter3" not in shown


@pytest.mark.parametrize("missing", ["stripe_api_key", "stripe_webhook_secret"])
def test_stripe_without_its_keys_stops_start_up_naming_them(missing: str) -> None:
    given = {name: value for name, value in STRIPE.items() if name != missing}
    with pytest.raises(SettingsError, match="GALLEY_STRIPE_API_KEY and GALLEY_STRIPE_WEBHOOK"):
        load_settings(**given)
