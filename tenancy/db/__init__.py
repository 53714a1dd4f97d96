"""Relational storage shared by the control plane: base classes, engine, scoping."""
