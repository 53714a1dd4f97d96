"""Helpers shared by the test suite (real speech, audio measures)."""
