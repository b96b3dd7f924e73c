from __future__ import annotations

from galley.errors import Conflict, FieldError, InvalidRequest, NotFound


class WebhookEndpointNotFound(NotFound):
    code = "webhook-endpoint-not-found"

    def __init__(self, endpoint_id: str) -> None:
        super().__init__(f"There is no webhook endpoint {endpoint_id}.")


class WebhookDeliveryNotFound(NotFound):
    code = "webhook-delivery-not-found"

    def __init__(self, endpoint_id: str, delivery_id: str) -> None:
        super().__init__(f"Webhook endpoint {endpoint_id} has no delivery {delivery_id}.")


class WebhookEndpointDisabled(Conflict):
    code = "webhook-endpoint-disabled"

    def __init__(self, endpoint_id: int) -> None:
        super().__init__(
            f"Webhook endpoint {endpoint_id} is disabled; enable it before redelivering."
        )


class WebhookUrlRefused(InvalidRequest):
    """A URL Galley will not call: wrong scheme, or a name that resolves to an address
    inside the network (server-side request forgery)."""

    code = "webhook-url-refused"

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"url {problem}.", [FieldError(field="url", message=problem)])
        self.url = url
