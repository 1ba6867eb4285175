"""lmbatch's benchmark suite: its own cost against hand-written baselines, as ratios.

Run ``python -m benchmarks`` from the repository root (``python3 dev.py bench`` does).
Not part of the test suite: timings are never asserted, only reported.
"""
