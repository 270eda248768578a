"""Benchmarks of har-inventory against the sandbox: `python -m bench` (see `__main__`)."""
