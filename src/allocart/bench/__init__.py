"""Benchmarks of allocart components against peer tools."""
