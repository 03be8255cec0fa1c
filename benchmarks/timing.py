"""Timing helpers the benchmarks share (no runtime imported: a gevent
benchmark must not load eventlet)."""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Callable, Optional

#: The environment variable benchmarks/run_all.py sets: a file each figure
#: is appended to, as one JSON line.
FIGURES_ENV = "BENCH_FIGURES"


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


def record(measure: str, peer: str, value: float, better: str, theirs: Optional[float] = None) -> None:
    """Note one figure for ``benchmarks/run_all.py`` (nothing when run alone).

    ``value`` is ours against ``peer``, a ratio; or, with ``better="fewer"``,
    our count (FIFO descents) and ``theirs`` the peer's. ``better`` says
    which way is good: ``"lower"`` (times), ``"higher"`` (rates), ``"fewer"``.
    """
    if better not in ("lower", "higher", "fewer"):
        raise ValueError(f"better must be 'lower', 'higher' or 'fewer', got {better!r}")
    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    line = {"measure": measure, "peer": peer, "value": value, "better": better, "theirs": theirs}
    with open(path, "a") as out:
        out.write(json.dumps(line) + "\n")
