"""Helpers for tests that run the real hub, real peers and real files."""
