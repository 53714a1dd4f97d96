"""HTTP routes for identity and organisation management (logic in ``tenancy``)."""
