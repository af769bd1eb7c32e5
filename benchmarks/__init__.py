"""Benchmark scripts; docs/benchmarks.md holds their results, each with the command that made it.

Run one as ``python benchmarks/NAME.py`` (or ``python -m benchmarks.NAME`` from the repository root); ``--help``
lists its options. ``tests/test_benchmark_scripts.py`` runs some of them at a tiny size.
"""
