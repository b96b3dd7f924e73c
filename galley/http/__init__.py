"""What every route shares: the transaction, idempotency, paging, ETags and problem answers."""
