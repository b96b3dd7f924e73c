"""Galley: the order, inventory and fulfilment backend."""
