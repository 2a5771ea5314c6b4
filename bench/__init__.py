"""Benchmarks: `make bench` runs every `bench/bench_*.py` module's `run()` and writes its JSON result."""
