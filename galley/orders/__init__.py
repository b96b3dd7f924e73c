"""Orders: placing them against stock and moving them through preparation."""
