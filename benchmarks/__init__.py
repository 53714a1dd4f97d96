"""Reproducible benchmarks; each prints its numbers and writes JSON to ``benchmarks/results``."""
