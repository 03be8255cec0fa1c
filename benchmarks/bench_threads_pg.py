"""ConnectionPool(backend='threads') against psycopg_pool on a real PostgreSQL.

Run: python benchmarks/bench_threads_pg.py [--quick] [--dsn DSN]
(needs ``pip install 'psycopg[binary]' psycopg-pool`` and a PostgreSQL server;
by default ``host=127.0.0.1 dbname=test``, as on the development machine)

16 OS threads share 4 connections; each cycle checks one out, runs
``SELECT 1`` and gives it back. psycopg_pool's ``connection()`` commits
at the end of the block; ours is set to do the same
(``reset_on_return='commit'``), since a rollback also makes psycopg
forget the statements it prepared on the connection.
Both pools are FIFO-fair. Peers alternate round by round, so drift in
machine or server speed hits both alike. Prints cycles/s (best and median
of the rounds, higher is better) and the p50/p99 wait of each checkout over
all rounds, then ours/theirs per round (range and median: the server
shares the machine, so single rounds scatter widely). Target: at least 1.0x
psycopg_pool's cycles/s, with a p99 wait no higher than its.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time
from typing import Any, Callable

import psycopg
import psycopg_pool
from timing import percentile, record

from eventlet_pools.dbapi import ConnectionPool

Checkout = Callable[[], Any]  # a context manager yielding a connection


def ours(dsn: str, size: int) -> tuple[Checkout, Callable[[], None]]:
    pool = ConnectionPool(
        lambda: psycopg.connect(dsn),
        min_size=size,
        max_size=size,
        reset_on_return="commit",
        backend="threads",
    )
    return pool.connection, pool.close


def theirs(dsn: str, size: int) -> tuple[Checkout, Callable[[], None]]:
    pool = psycopg_pool.ConnectionPool(dsn, min_size=size, max_size=size, open=True)
    pool.wait()
    return pool.connection, pool.close


PEERS = {"psycopg_pool": theirs, "ours": ours}


def run(checkout: Checkout, threads: int, cycles: int) -> tuple[float, list[float]]:
    """cycles/s over all threads, and every checkout's wait in seconds."""
    waits: list[float] = []
    lock = threading.Lock()
    clock = time.perf_counter
    start = threading.Barrier(threads + 1)

    def worker() -> None:
        mine = []
        start.wait()
        for _ in range(cycles):
            asked = clock()
            with checkout() as conn:
                mine.append(clock() - asked)
                conn.execute("SELECT 1")
        with lock:
            waits.extend(mine)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    start.wait()
    started = clock()
    for thread in workers:
        thread.join()
    return threads * cycles / (clock() - started), waits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer cycles: a smoke run")
    parser.add_argument("--dsn", default="host=127.0.0.1 dbname=test")
    args = parser.parse_args(argv)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    cycles, rounds = (20, 2) if args.quick else (150, 12)
    pools = {name: make(args.dsn, 4) for name, make in PEERS.items()}
    rates: dict[str, list[float]] = {name: [] for name in PEERS}
    waits: dict[str, list[float]] = {name: [] for name in PEERS}
    try:
        for _ in range(rounds):
            for name, (checkout, _close) in pools.items():
                rate, round_waits = run(checkout, 16, cycles)
                rates[name].append(rate)
                waits[name].extend(round_waits)
    finally:
        for _checkout, close in pools.values():
            close()
    print(f"16 threads / 4 connections, SELECT 1 per checkout ({rounds} rounds of {16 * cycles} cycles)")
    print(f"  {'':14s} {'best/s':>9s} {'median/s':>9s} {'wait p50 ms':>12s} {'p99 ms':>8s}")
    for name in PEERS:
        ordered = sorted(waits[name])
        print(
            f"  {name:14s} {max(rates[name]):9.0f} {statistics.median(rates[name]):9.0f}"
            f" {percentile(ordered, 0.5) * 1e3:12.3f} {percentile(ordered, 0.99) * 1e3:8.3f}"
        )
    ratios = [o / t for o, t in zip(rates["ours"], rates["psycopg_pool"])]
    print(
        f"  ours/psycopg_pool cycles/s per round: {min(ratios):.2f}-{max(ratios):.2f}x,"
        f" median {statistics.median(ratios):.2f}x"
    )
    record(
        "16 threads / 4 PostgreSQL connections, cycles/s", "psycopg_pool", statistics.median(ratios), "higher"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
