"""eventlet.pools.Pool against eventlet_pools.Pool, side by side in one run.

Run: python benchmarks/bench_core.py [--quick]

Prints, for each scenario, both pools' figures and the ratio ours/eventlet's:
  * uncontended get+put and item(): ns per cycle (lower is better)
  * 1000 greenthreads contending for 10 items: cycles/s (higher is better)
    and the wait before each get returned (p50/p99/max)
  * FIFO: waiters queued in a known order; descents counts how often one was
    served before somebody who arrived earlier (0 means strict FIFO)
Targets: uncontended get+put <= 0.6x eventlet's time, contended
>= 1.5x eventlet's cycles/s, zero FIFO descents.

A second table prices each lifecycle option: uncontended get+put
of a pool with that option set, against the same pool without options and
against eventlet's, all in one alternating run. Target: with no option set,
within 10% of the core's time (the core release's table is in README.md).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import warnings
from typing import Any, Callable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.semaphore
    from eventlet import pools as eventlet_pools_module

from timing import best_ns_per_op, percentile, record

import eventlet_pools

__all__ = ["best_ns_per_op", "percentile"]  # (shared with the other benchmarks)

PEERS: dict[str, Callable[..., Any]] = {
    "eventlet": eventlet_pools_module.Pool,
    "ours": eventlet_pools.Pool,
}


def _factory() -> Callable[[], object]:
    return object


def uncontended_get_put(pool_cls: Callable[..., Any]) -> Callable[[int], None]:
    pool = pool_cls(max_size=4, create=_factory())
    pool.put(pool.get())  # the first get creates; measure reuse only

    def run(loops: int) -> None:
        get, put = pool.get, pool.put
        for _ in range(loops):
            put(get())

    return run


def _ok(item: object) -> bool:
    return True


def _noop(item: object) -> None:
    return None


# Durations are long enough that nothing falls due while measuring: the
# figure is the bookkeeping each option adds to every get+put.
OPTION_COSTS: dict[str, dict[str, Any]] = {
    "no options": {},
    "max_age": {"max_age": 3600.0},
    "max_idle": {"max_idle": 3600.0},
    "max_uses": {"max_uses": 10**9},
    "max_overflow": {"max_overflow": 2},
    "check": {"check": _ok},
    "reset": {"reset": _noop},
    "health_check_interval": {"check": _ok, "health_check_interval": 3600.0},
    "max_hold (stack capture)": {"max_hold": 3600.0},
    "reclaim_after": {"reclaim_after": 3600.0},
    "create_retry": {"create_retry": True},
    "checkout listener": {"listen": "checkout"},
    "all of the above": {
        "max_age": 3600.0,
        "max_idle": 3600.0,
        "max_uses": 10**9,
        "max_overflow": 2,
        "check": _ok,
        "reset": _noop,
        "health_check_interval": 3600.0,
        "max_hold": 3600.0,
        "reclaim_after": 3600.0,
        "create_retry": True,
        "listen": "checkout",
    },
}


def option_get_put(options: dict[str, Any]) -> Callable[[int], None]:
    options = dict(options)
    event = options.pop("listen", None)
    pool = eventlet_pools.Pool(max_size=4, create=_factory(), **options)
    if event is not None:
        pool.listen(event, _noop)
    pool.put(pool.get())

    def run(loops: int) -> None:
        get, put = pool.get, pool.put
        for _ in range(loops):
            put(get())

    return run


def uncontended_item(pool_cls: Callable[..., Any]) -> Callable[[int], None]:
    pool = pool_cls(max_size=4, create=_factory())
    pool.put(pool.get())

    def run(loops: int) -> None:
        item = pool.item
        for _ in range(loops):
            with item():
                pass

    return run


def token_with_block(token_pool: bool) -> Callable[[int], None]:
    """``with limit.item():`` on a TokenPool, or ``with sem:`` on eventlet's
    Semaphore: the same concurrency limit, uncontended."""
    if token_pool:
        item = eventlet_pools.TokenPool(max_size=10).item

        def run(loops: int) -> None:
            for _ in range(loops):
                with item():
                    pass

        return run
    sem = eventlet.semaphore.Semaphore(10)

    def run_sem(loops: int) -> None:
        for _ in range(loops):
            with sem:
                pass

    return run_sem


def contended(
    pool_cls: Callable[..., Any], threads: int, items: int, cycles: int, hold: bool = True
) -> tuple[float, list[float]]:
    """``threads`` greenthreads each doing ``cycles`` get/put.

    With ``hold`` each keeps its item across one ``sleep(0)``, as real work
    would; without, the cycle is pure pool handoff.
    """
    pool = pool_cls(max_size=items, create=_factory())
    waits: list[float] = []
    clock = time.perf_counter

    def worker() -> None:
        for _ in range(cycles):
            start = clock()
            obj = pool.get()
            waits.append(clock() - start)
            if hold:
                eventlet.sleep(0)
            pool.put(obj)

    green = eventlet.GreenPool(threads)
    gc.collect()
    start = clock()
    for _ in range(threads):
        green.spawn_n(worker)
    green.waitall()
    elapsed = clock() - start
    assert len(waits) == threads * cycles
    assert pool.free() == items
    assert pool.waiting() == 0
    waits.sort()
    return threads * cycles / elapsed, waits


def interleaved_contended(
    peers: dict[str, Callable[..., Any]], rounds: int, cycles: int, hold: bool = True
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Each peer's median cycles/s over ``rounds`` runs of :func:`contended`.

    The peers take turns within every round, so drift in machine speed hits
    them alike. Also returns each peer's sorted waits from its last run.
    """
    rates: dict[str, list[float]] = {peer: [] for peer in peers}
    waits: dict[str, list[float]] = {}
    for _ in range(rounds):
        for peer, cls in peers.items():
            rate, waits[peer] = contended(cls, threads=1000, items=10, cycles=cycles, hold=hold)
            rates[peer].append(rate)
    return {peer: statistics.median(values) for peer, values in rates.items()}, waits


def fifo_descents(pool_cls: Callable[..., Any], waiters: int) -> int:
    """Queue ``waiters`` greenthreads in order; count out-of-order services."""
    pool = pool_cls(max_size=1, create=_factory())
    held = pool.get()
    served: list[int] = []

    def waiter(index: int) -> None:
        obj = pool.get()
        served.append(index)
        pool.put(obj)

    threads = [eventlet.spawn(waiter, i) for i in range(waiters)]
    eventlet.sleep(0)  # every waiter is now queued, in index order
    pool.put(held)
    for thread in threads:
        thread.wait()
    assert sorted(served) == list(range(waiters))
    return sum(1 for a, b in zip(served, served[1:]) if b < a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer loops (smoke run)")
    args = parser.parse_args(argv)
    loops, repeat = (20_000, 3) if args.quick else (200_000, 15)
    cycles = 5 if args.quick else 30

    print(
        f"python {sys.version.split()[0]}, eventlet {eventlet.__version__}, "
        f"eventlet_pools {eventlet_pools.__version__}"
    )
    header = f"{'scenario':<34}{'eventlet':>14}{'ours':>14}{'ours/eventlet':>15}"
    print(header)
    print("-" * len(header))

    for name, make in (
        ("uncontended get+put (ns/cycle)", uncontended_get_put),
        ("uncontended item() (ns/cycle)", uncontended_item),
    ):
        results = best_ns_per_op({peer: make(cls) for peer, cls in PEERS.items()}, loops, repeat)
        ratio = results["ours"] / results["eventlet"]
        print(f"{name:<34}{results['eventlet']:>14.0f}{results['ours']:>14.0f}{ratio:>14.2f}x")
        record(name.replace(" (ns/cycle)", ", time"), "eventlet.pools", ratio, "lower")

    tokens = best_ns_per_op(
        {"eventlet": token_with_block(False), "ours": token_with_block(True)}, loops, repeat
    )
    name = "TokenPool vs Semaphore with block"
    ratio = tokens["ours"] / tokens["eventlet"]
    print(f"{name:<34}{tokens['eventlet']:>14.0f}{tokens['ours']:>14.0f}{ratio:>14.2f}x")
    record("TokenPool `with limit.item()`, time", "`with` eventlet Semaphore", ratio, "lower")

    # Without holding across a switch nobody ever waits, so only "hold" is measured.
    for hold, title in ((True, "1000 gt / 10 items (cycles/s)"),):
        med, waits = interleaved_contended(PEERS, rounds=5, cycles=cycles, hold=hold)
        ratio = med["ours"] / med["eventlet"]
        print(f"{title:<34}{med['eventlet']:>14.0f}{med['ours']:>14.0f}{ratio:>14.2f}x")
        record("1000 greenthreads / 10 items, cycles/s", "eventlet.pools", ratio, "higher")
        for label, fraction in (("p50", 0.50), ("p99", 0.99), ("max", 1.0)):
            values = {peer: percentile(w, fraction) * 1e3 for peer, w in waits.items()}
            name = f"  wait {label} (ms)"
            ratio = values["ours"] / values["eventlet"] if values["eventlet"] else float("nan")
            print(f"{name:<34}{values['eventlet']:>14.2f}{values['ours']:>14.2f}{ratio:>14.2f}x")
            record(f"1000 greenthreads / 10 items, wait {label}", "eventlet.pools", ratio, "lower")

    descents = {peer: fifo_descents(cls, 200) for peer, cls in PEERS.items()}
    name = "FIFO descents, 200 waiters"
    print(f"{name:<34}{descents['eventlet']:>14}{descents['ours']:>14}")
    record(name, "eventlet.pools", descents["ours"], "fewer", descents["eventlet"])

    print()
    header = f"{'get+put with option (ns/cycle)':<34}{'ns':>10}{'/no options':>13}{'/eventlet':>11}"
    print(header)
    print("-" * len(header))
    runs = {"eventlet": uncontended_get_put(PEERS["eventlet"])}
    runs.update({label: option_get_put(options) for label, options in OPTION_COSTS.items()})
    costs = best_ns_per_op(runs, loops // 2, repeat)
    base, theirs = costs["no options"], costs["eventlet"]
    for label in OPTION_COSTS:
        print(f"{label:<34}{costs[label]:>10.0f}{costs[label] / base:>12.2f}x{costs[label] / theirs:>10.2f}x")
        record(f"get+put with {label}, time", "eventlet.pools", costs[label] / theirs, "lower")
    return 0


if __name__ == "__main__":
    sys.exit(main())
