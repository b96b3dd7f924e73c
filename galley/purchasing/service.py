"""What other areas, the reactions and the routes call on purchasing."""

from __future__ import annotations

from galley.purchasing.receiving import receive as receive
from galley.purchasing.replenishment import announce as announce
from galley.purchasing.replenishment import replenish as replenish
from galley.purchasing.replenishment import replenish_everywhere as replenish_everywhere
from galley.purchasing.replenishment import send_grown_drafts as send_grown_drafts
