"""This tree's Pool against an earlier release of it, side by side in one run.

Run:
    git worktree add /tmp/core a5d0402   # the core release
    python benchmarks/bench_vs_core.py /tmp/core [--quick]

Both trees' ``eventlet_pools`` are imported into one process (the older
under another module name) and alternate on every repeat, so drift in
machine speed hits both alike. Prints uncontended get+put (ns/cycle, best
of the repeats) and 1000 greenthreads contending for 10 items (cycles/s,
median), each with the ratio this tree / the older one. Target:
with no lifecycle option set, uncontended get+put within 10% of the core's.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import sys
from types import ModuleType
from typing import Any

import bench_core

import eventlet_pools


def load_tree(root: pathlib.Path) -> ModuleType:
    """Import ``root/eventlet_pools`` as module ``core_eventlet_pools``."""
    package = root / "eventlet_pools"
    if not (package / "__init__.py").exists():
        raise SystemExit(f"{root} has no eventlet_pools package")
    saved = {name: module for name, module in sys.modules.items() if name.startswith("eventlet_pools")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        spec = importlib.util.find_spec("eventlet_pools")
        assert spec is not None
        assert spec.origin is not None
        if not spec.origin.startswith(str(root)):
            raise SystemExit(f"could not import eventlet_pools from {root}")
        core = importlib.import_module("eventlet_pools")
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n.startswith("eventlet_pools")]:
            sys.modules["core_" + name] = sys.modules.pop(name)
        sys.modules.update(saved)
    return core


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("core", type=pathlib.Path, help="a checkout of the earlier release")
    parser.add_argument("--quick", action="store_true", help="fewer loops (smoke run)")
    args = parser.parse_args(argv)
    core = load_tree(args.core.resolve())
    peers: dict[str, Any] = {"core": core.Pool, "this tree": eventlet_pools.Pool}
    loops, repeat, rounds, cycles = (20_000, 3, 2, 5) if args.quick else (200_000, 25, 7, 30)

    uncontended = bench_core.best_ns_per_op(
        {peer: bench_core.uncontended_get_put(cls) for peer, cls in peers.items()}, loops, repeat
    )
    contended, _waits = bench_core.interleaved_contended(peers, rounds, cycles)

    header = f"{'scenario':<34}{'core':>12}{'this tree':>12}{'ratio':>9}"
    print(header)
    print("-" * len(header))
    for name, figures in (
        ("uncontended get+put (ns/cycle)", uncontended),
        ("1000 gt / 10 items (cycles/s)", contended),
    ):
        ratio = figures["this tree"] / figures["core"]
        print(f"{name:<34}{figures['core']:>12.0f}{figures['this tree']:>12.0f}{ratio:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
