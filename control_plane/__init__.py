"""CAP control plane: the HTTP API, agents, usage, dashboards, app assembly and the `cap` CLI."""
