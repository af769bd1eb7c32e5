"""Benchmark scripts; docs/benchmarks.md holds their results, each with the command that made it.

Run one as ``python -m benchmarks.NAME`` from the repository root (the scripts import each other and the
library as packages; nothing edits ``sys.path``); ``--help`` lists its options. ``tests/test_benchmark_scripts.py``
runs them at a tiny size.
"""
