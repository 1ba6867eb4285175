"""Timing and memory helpers: lmbatch and its baseline, alternated, in one run.

Absolute times on a shared machine are noise; a ratio of two medians taken in the same
process, with the two sides interleaved round by round, mostly is not.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    """One benchmark's figures.

    Attributes:
        name: Short name shown in the table.
        unit: What one "item" is (``request``, ``line``, ``run``), or ``MB`` for a
            memory row, whose ``ours``/``baseline`` are megabytes, not seconds.
        items: Items per timed run.
        ours: Median seconds of lmbatch's side.
        baseline: Median seconds of the baseline's side.
        target: Highest acceptable ``ours / baseline`` (None: reported, no target).
        ours_peak_mb: Peak memory of one lmbatch run (tracemalloc, MB), if measured.
        baseline_peak_mb: The same for the baseline.
        notes: Free text shown under the table.
        absolute_target_s: A target on ``ours`` itself instead of on the ratio (in
            megabytes for a memory row).
        extra: Anything else worth keeping in ``latest.json``.
    """

    name: str
    unit: str
    items: int
    ours: float
    baseline: float
    target: float | None = None
    ours_peak_mb: float | None = None
    baseline_peak_mb: float | None = None
    notes: list[str] = field(default_factory=list)
    absolute_target_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """lmbatch's median over the baseline's."""
        return self.ours / self.baseline if self.baseline else float("inf")

    @property
    def met(self) -> bool | None:
        """Whether the target holds (None when there is none)."""
        if self.absolute_target_s is not None:
            return self.ours <= self.absolute_target_s
        if self.target is None:
            return None
        return self.ratio <= self.target

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``latest.json``."""
        data = asdict(self)
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data


def alternate(
    ours: Callable[[], object], baseline: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Median seconds of each side over ``rounds`` interleaved runs (after one warm-up each)."""
    ours()
    baseline()
    ours_times: list[float] = []
    baseline_times: list[float] = []
    for index in range(rounds):
        # Swap the order every round so neither side always runs on a warmer cache.
        pair = ((ours, ours_times), (baseline, baseline_times))
        for work, times in pair if index % 2 == 0 else reversed(pair):
            gc.collect()
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
    return statistics.median(ours_times), statistics.median(baseline_times)


def ratio_without_gc(
    ours: Callable[[], object], baseline: Callable[[], object], rounds: int
) -> float:
    """``ours / baseline`` with the garbage collector off: the CPU work alone.

    Holding tens of thousands of typed results makes CPython's collector walk the whole
    heap many times over, a cost the baseline's flat dicts mostly escape; this figure
    tells that cost apart from lmbatch's own work.
    """
    gc.disable()
    try:
        ours_s, baseline_s = alternate(ours, baseline, rounds)
    finally:
        gc.enable()
    return ours_s / baseline_s


def peak_mb(work: Callable[[], object]) -> float:
    """Peak Python memory allocated while ``work`` runs, in MB (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6
