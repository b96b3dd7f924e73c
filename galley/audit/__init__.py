"""The security audit log: who did what to access, and who was refused."""
