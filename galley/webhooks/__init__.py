"""Signed webhooks: events sent to the HTTPS endpoints administrators register, signed as
the Standard Webhooks specification says, retried on a schedule, every attempt kept."""
