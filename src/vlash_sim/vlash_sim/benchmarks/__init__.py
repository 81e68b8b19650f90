"""Benchmarks: ``python -m vlash_sim.benchmarks <name>`` (see ``__main__``)."""
