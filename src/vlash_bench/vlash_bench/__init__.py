"""Benchmarks: ``python -m vlash_bench <name>`` (see ``__main__``)."""
