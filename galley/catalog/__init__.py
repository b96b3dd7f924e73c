"""The catalog: products with their SKU, name and price."""
