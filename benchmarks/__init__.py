"""Benchmarks of accessbot: `python -m benchmarks` runs every scenario against a real serve process."""
