"""What a use case reports happened, for `galley.reactions` to follow up.

A use case changes what it owns and returns these alongside its answer; it never calls
another area's use case itself. `galley.reactions` lists, for each kind, what follows in
the same transaction, so that one table tells every effect of a change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, get_args

from pydantic import BaseModel

from galley.catalog.rules import Sellable
from galley.events.service import EventType
from galley.inventory.rules import Level, Plan
from galley.inventory.schemas import Adjusted

AuditKind = Literal[
    "login.succeeded",
    "login.failed",
    "login.throttled",
    "refresh_token.reused",
    "api_key.created",
    "api_key.revoked",
    "user.created",
    "user.changed",
    "permission.denied",
    "data_keys.rotated",
    "webhook_endpoint.created",
    "webhook_endpoint.changed",
    "webhook_endpoint.secret_rotated",
    "webhook_endpoint.deleted",
    "supplier.webhook_secret_rotated",
]
AUDIT_KINDS: tuple[AuditKind, ...] = get_args(AuditKind)


@dataclass(frozen=True)
class Origin:
    """Who acted and from where: the principal, the client address, the request."""

    actor: str
    address: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Audited:
    """A security event for the audit log (`galley.audit`). A refusal's is made without
    an `origin`: the edge that answers the refused request knows who asked."""

    kind: AuditKind
    subject: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    origin: Origin | None = None


@dataclass(frozen=True)
class OrderPlaced:
    """An order was written; the stock it takes (`plan`) is taken once others have heard
    of it, so that the stock rows are held for the last statements of the transaction
    (`galley.inventory.levels`). `products` are what the order read of them."""

    order: BaseModel
    actor: str
    plan: Plan
    products: Mapping[int, Sellable]


@dataclass(frozen=True)
class StockTaken:
    """An order's stock was taken: what it allocated reserved, what it backordered
    counted. `figures` are its products' locked figures after, `products` what the order
    read of them."""

    location_id: int
    actor: str
    figures: Mapping[int, Level]
    products: Mapping[int, Sellable]

    @property
    def product_ids(self) -> tuple[int, ...]:
        return tuple(self.figures)


@dataclass(frozen=True)
class StockFreed:
    """Free stock rose at a location (a receipt, a positive adjustment, an order let go of
    what it held): it goes to the orders waiting longest, then what is still uncovered is
    bought. `products` is what the change read of them, when it did."""

    location_id: int
    product_ids: tuple[int, ...]
    actor: str
    cause: str
    products: Mapping[int, Sellable] | None = None


@dataclass(frozen=True)
class StockAdjusted:
    """Stock was adjusted by hand; other systems hear of it once what follows is done."""

    adjusted: Adjusted


@dataclass(frozen=True)
class CoverChanged:
    """What waits for stock, or what is on its way, changed: the rule buys what is not
    covered. `figures` are the products' locked figures, and `products` what the change
    read of them, when the use case has them."""

    location_id: int
    product_ids: tuple[int, ...]
    actor: str
    figures: Mapping[int, Level] | None = None
    products: Mapping[int, Sellable] | None = None


@dataclass(frozen=True)
class SourcingChanged:
    """A product's supplier or replenishment settings changed: the rule runs for it at every
    location that stocks it."""

    product_id: int
    actor: str


@dataclass(frozen=True)
class DraftsGrew:
    """Lines were added to drafts: those of suppliers taking orders automatically that
    their batching window does not hold back (`due`) go out."""

    due: tuple[int, ...]
    actor: str


@dataclass(frozen=True)
class Announced:
    """Something other systems hear of (`galley.events`): one event of `type` for each
    resource, leaving out the fields in `hide` (personal data)."""

    type: EventType
    resources: Sequence[BaseModel]
    hide: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class PurchaseOrdersAnnounced:
    """Purchase orders that other systems hear of, as they stand once the change is done."""

    type: EventType
    purchase_order_ids: tuple[int, ...]


Change: TypeAlias = (
    Audited
    | OrderPlaced
    | StockTaken
    | StockFreed
    | StockAdjusted
    | CoverChanged
    | SourcingChanged
    | DraftsGrew
    | Announced
    | PurchaseOrdersAnnounced
)
