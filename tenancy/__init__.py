"""Organisations, users, memberships, roles and permissions, API keys, rate
limits, and the tenant context every query is scoped by."""
