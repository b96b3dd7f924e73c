"""Who is calling and what they may do: users, tokens, API keys, roles and permissions."""
