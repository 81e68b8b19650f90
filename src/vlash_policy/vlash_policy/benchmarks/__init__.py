"""Runnable benchmarks (``python -m vlash_policy.benchmarks.<name>``)."""
