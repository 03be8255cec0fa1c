"""eventlet.db_pool against eventlet_pools.dbapi.ConnectionPool, side by side.

Run: python benchmarks/bench_dbapi.py [--quick]

Both pools hand out sqlite3 ``:memory:`` connections wrapped so that close()
returns them, and roll them back on return (eventlet.db_pool's
RawConnectionPool does; ours by default). Prints, for each scenario, both
pools' figures and the ratio ours/eventlet's:
  * uncontended checkout + close: ns per cycle (lower is better), ours with
    its defaults (ping when idle >= 3 s, so never here) and with check=None;
  * 200 greenthreads sharing 10 connections, each cycle a checkout, one
    switch while holding, and close: cycles/s (higher is better), and how
    often a waiter was served before one that came earlier (FIFO descents).
There is no target for this table; it shows where we stand.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
import warnings
from typing import Any, Callable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    from eventlet import db_pool

from timing import best_ns_per_op, record

from eventlet_pools.dbapi import ConnectionPool

PEER = "eventlet.db_pool.RawConnectionPool"


def eventlet_pool(max_size: int) -> Any:
    return db_pool.RawConnectionPool(
        sqlite3, database=":memory:", max_size=max_size, max_idle=60, max_age=600
    )


def our_pool(max_size: int, **options: Any) -> ConnectionPool:
    return ConnectionPool(lambda: sqlite3.connect(":memory:"), max_size=max_size, **options)


def uncontended(get: Callable[[], Any]) -> Callable[[int], None]:
    get().close()  # the first checkout connects; measure reuse only

    def run(loops: int) -> None:
        for _ in range(loops):
            get().close()

    return run


def contended(get: Callable[[], Any], greenthreads: int, cycles: int) -> tuple[float, int]:
    """cycles/s over all greenthreads, and FIFO descents among them."""
    served: list[int] = []
    arrival = 0

    def worker() -> None:
        nonlocal arrival
        for _ in range(cycles):
            ticket = arrival
            arrival += 1
            conn = get()
            served.append(ticket)
            eventlet.sleep(0)
            conn.close()

    started = time.perf_counter()
    pool = eventlet.GreenPool(greenthreads)
    for _ in range(greenthreads):
        pool.spawn_n(worker)
    pool.waitall()
    elapsed = time.perf_counter() - started
    descents = sum(1 for a, b in zip(served, served[1:]) if b < a)
    return greenthreads * cycles / elapsed, descents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer loops: a smoke run")
    args = parser.parse_args(argv)
    loops, repeat, cycles = (2_000, 3, 5) if args.quick else (50_000, 7, 50)

    theirs, ours, ours_nocheck = eventlet_pool(4), our_pool(4), our_pool(4, check=None)
    best = best_ns_per_op(
        {
            "eventlet": uncontended(theirs.get),
            "ours": uncontended(ours.connect),
            "ours check=None": uncontended(ours_nocheck.connect),
        },
        loops,
        repeat,
    )
    print(
        f"{'checkout + close, sqlite3 :memory:':44s} {'eventlet':>12s} {'ours':>12s} {'ours/eventlet':>14s}"
    )
    for name in ("ours", "ours check=None"):
        print(
            f"{'  uncontended, ns per cycle (' + name + ')':44s} {best['eventlet']:12.0f} "
            f"{best[name]:12.0f} {best[name] / best['eventlet']:13.2f}x"
        )
        setting = "defaults" if name == "ours" else "`check=None`"
        record(f"uncontended checkout + close, {setting}, time", PEER, best[name] / best["eventlet"], "lower")
    rates: dict[str, list[float]] = {"eventlet": [], "ours": []}
    descents = {"eventlet": 0, "ours": 0}
    for _ in range(3):  # interleaved rounds: drift hits both alike
        for name in ("eventlet", "ours"):
            get = eventlet_pool(10).get if name == "eventlet" else our_pool(10).connect
            rate, descended = contended(get, 200, cycles)
            rates[name].append(rate)
            descents[name] += descended
    theirs_rate, ours_rate = max(rates["eventlet"]), max(rates["ours"])
    print(
        f"{'  200 greenthreads / 10 conns, cycles/s':44s} {theirs_rate:12.0f} {ours_rate:12.0f} "
        f"{ours_rate / theirs_rate:13.2f}x"
    )
    record("200 greenthreads / 10 connections, cycles/s", PEER, ours_rate / theirs_rate, "higher")
    print(f"{'  FIFO descents':44s} {descents['eventlet']:12d} {descents['ours']:12d}")
    record("FIFO descents, 200 greenthreads", PEER, descents["ours"], "fewer", descents["eventlet"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
