"""Provider credentials per organisation, encrypted at rest, never returned."""
