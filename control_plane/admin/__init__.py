"""Platform administration: organisations, suspension, flags, audit, impersonation."""
