"""Events: every business change, written to an outbox in the change's own transaction,
then published in order to the consumers that act on it."""
