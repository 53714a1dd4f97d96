"""CAP tenancy."""
