"""Suppliers, purchase orders, receiving, and the rule that buys what orders wait for."""
