"""Locations and the stock they hold: levels, the ledger, reservations."""
