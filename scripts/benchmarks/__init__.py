"""Benchmark sections, one module per capability."""
