"""Ops surfaces: Prometheus metrics, the latency dashboard and per-call timelines."""
