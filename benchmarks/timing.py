"""Timing helpers the benchmarks share (no runtime imported: a gevent
benchmark must not load eventlet)."""

from __future__ import annotations

import gc
import time
from typing import Callable


def best_ns_per_op(runs: dict[str, Callable[[int], None]], loops: int, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` timings of each ``run(loops)``, in ns per loop.

    The peers take turns on every repeat, so drift in machine speed hits
    both alike; the garbage collector is off while timing, as in timeit.
    """
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for peer, run in runs.items():
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter_ns()
                run(loops)
                elapsed = time.perf_counter_ns() - start
            finally:
                gc.enable()
            best[peer] = min(best[peer], elapsed / loops)
    return best


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value ``fraction`` of the way up ``sorted_values`` (NaN if empty)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]
