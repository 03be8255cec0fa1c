"""Run every benchmark several times and write the tables the docs include.

    python3 benchmarks/run_all.py             # 3 runs of each, into docs/figures/
    python3 benchmarks/run_all.py --runs 5 --only core,redis
    python3 benchmarks/run_all.py --quick     # a smoke run: tables into a scratch folder

Each benchmark runs as its own process, one after another (never two at
once: they would slow each other), with ``BENCH_FIGURES`` naming a file it
appends its figures to (``timing.record``). A table gives, for each figure,
the spread over the runs (lowest to highest) and the median, which way is
better, and the target where an issue set one with how many runs met it. So
no figure on the docs site is typed by hand: docs/speed.md includes these
files.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Optional

from timing import FIGURES_ENV

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Benchmark:
    """One script of benchmarks/ and what its table is called."""

    name: str
    script: str
    title: str


BENCHMARKS = (
    Benchmark("core", "bench_core.py", "Pool and TokenPool against eventlet.pools"),
    Benchmark("dbapi", "bench_dbapi.py", "ConnectionPool against eventlet.db_pool, sqlite3 :memory:"),
    Benchmark("backends", "bench_backends.py", "Threads and asyncio against SQLAlchemy's QueuePool"),
    Benchmark("asyncio", "bench_asyncio.py", "asyncio against asyncio.Queue, Semaphore + list, anyio"),
    Benchmark("gevent", "bench_gevent.py", "gevent against gevent.queue"),
    Benchmark("threads_pg", "bench_threads_pg.py", "Threads on PostgreSQL against psycopg_pool"),
    Benchmark("redis", "bench_redis.py", "RedisTokenPool against py-cachify"),
    Benchmark("workers", "bench_workers.py", "WorkerPool against GreenPool and ThreadPoolExecutor"),
)

#: Targets the issues set: (benchmark, measure) -> (comparison, bound).
TARGETS: dict[tuple[str, str], tuple[str, float]] = {
    ("core", "uncontended get+put, time"): ("<=", 0.6),
    ("core", "1000 greenthreads / 10 items, cycles/s"): (">=", 1.5),
    ("core", "TokenPool `with limit.item()`, time"): ("<=", 1.0),
    ("core", "FIFO descents, 200 waiters"): ("<=", 0),
    ("redis", "acquire + release, pool of 3, cycles/s"): (">=", 3.0),
    ("redis", "Redis commands per cycle"): ("<=", 8),
    ("workers", "*"): (">=", 1.0),
}


def target_of(benchmark: str, measure: str) -> Optional[tuple[str, float]]:
    return TARGETS.get((benchmark, measure)) or TARGETS.get((benchmark, "*"))


def run_once(
    benchmark: Benchmark, quick: bool, scratch: pathlib.Path, number: int
) -> list[dict[str, object]]:
    """Run the script once; its figures (it fails loudly if it fails)."""
    figures = scratch / f"{benchmark.name}-{number}.jsonl"
    env = {**os.environ, FIGURES_ENV: str(figures), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(HERE / benchmark.script), *(["--quick"] if quick else [])]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{benchmark.script} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    if not figures.exists():
        raise SystemExit(f"{benchmark.script} recorded no figures:\n{done.stdout}")
    return [json.loads(line) for line in figures.read_text().splitlines()]


def fmt(value: float, better: str) -> str:
    if better == "fewer":
        return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
    return f"{value:.2f}x"


def spread_of(values: list[float], better: str) -> str:
    """``low to high`` of sorted values, as shown (one value if they show alike)."""
    low, high = fmt(values[0], better), fmt(values[-1], better)
    return low if low == high else f"{low} to {high}"


def table(benchmark: Benchmark, runs: list[list[dict[str, object]]], when: str) -> str:
    """The Markdown table of one benchmark's runs."""
    rows: dict[tuple[str, str], list[dict[str, object]]] = {}
    for figures in runs:
        for figure in figures:
            rows.setdefault((str(figure["measure"]), str(figure["peer"])), []).append(figure)
    lines = [
        "<!-- written by benchmarks/run_all.py: do not edit, run it again -->",
        f"`python3 benchmarks/{benchmark.script}`: {len(runs)} run(s) on {when}, by `benchmarks/run_all.py`.",
        "Ratios are ours against the peer; counts are ours, the peer's in brackets.",
        "",
        "| measure | peer | better | spread over the runs | median | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for (measure, peer), figures in rows.items():
        better = str(figures[0]["better"])
        values = sorted(float(f["value"]) for f in figures)  # type: ignore[arg-type]
        spread = spread_of(values, better)
        if better == "fewer":
            theirs = sorted(float(f["theirs"]) for f in figures)  # type: ignore[arg-type]
            spread += f" ({spread_of(theirs, better)})"
        median = fmt(statistics.median(values), better)
        target = target_of(benchmark.name, measure)
        if target is None:
            shown_target = met = ""
        else:
            op, bound = target
            shown_target = f"{'≤' if op == '<=' else '≥'} {fmt(bound, better)}"
            # As shown: to two decimals (8.003 commands per cycle is 8.00).
            hits = sum(1 for v in values if (round(v, 2) <= bound if op == "<=" else round(v, 2) >= bound))
            met = f"{hits} of {len(values)}"
        lines.append(f"| {measure} | {peer} | {better} | {spread} | {median} | {shown_target} | {met} |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    cpus = os.cpu_count()
    return (
        f"Python {platform.python_version()}, eventlet {importlib.metadata.version('eventlet')}, "
        f"{platform.system()} {platform.machine()}, {cpus} CPU(s)"
    )


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each benchmark (default 3)")
    parser.add_argument(
        "--only", default="", help="comma-separated names: " + ",".join(b.name for b in BENCHMARKS)
    )
    parser.add_argument(
        "--quick", action="store_true", help="each benchmark's smoke run (tables not for the docs)"
    )
    parser.add_argument(
        "--out", type=pathlib.Path, default=None, help="folder for the tables (default docs/figures)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    names = {b.name for b in BENCHMARKS}
    chosen = [name for name in args.only.split(",") if name] or [b.name for b in BENCHMARKS]
    unknown = sorted(set(chosen) - names)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    if args.out is not None:
        out = args.out
    elif args.quick:
        out = pathlib.Path(tempfile.mkdtemp(prefix="run_all_quick_"))
    else:
        out = ROOT / "docs" / "figures"
    out.mkdir(parents=True, exist_ok=True)
    when = f"{datetime.date.today().isoformat()} ({machine()})"
    with tempfile.TemporaryDirectory() as scratch:
        for benchmark in BENCHMARKS:
            if benchmark.name not in chosen:
                continue
            runs = []
            for number in range(args.runs):
                print(f"{benchmark.script}: run {number + 1} of {args.runs}", flush=True)
                runs.append(run_once(benchmark, args.quick, pathlib.Path(scratch), number))
            path = out / f"{benchmark.name}.md"
            path.write_text(f"**{benchmark.title}**\n\n" + table(benchmark, runs, when))
            print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
