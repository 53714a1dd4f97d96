"""Agents: configuration with a draft and immutable published versions."""
