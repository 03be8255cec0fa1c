"""Fixtures for the compatibility tests: the same subclass code on both pools.

Each test here is written the way code for :mod:`eventlet.pools` is written
(``from eventlet import pools``; subclass ``pools.Pool``) and runs twice:
on eventlet's own module and on :mod:`eventlet_pools`, which must be a
drop-in for it. A test asserts the same observable behaviour on both,
except where ours is documented as better (FIFO, no drift, no hang).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import warnings
from types import ModuleType

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.pools

import eventlet_pools


@pytest.fixture(params=["eventlet", "ours"])
def pools(request: pytest.FixtureRequest) -> ModuleType:
    """The module a subclass gets from ``from eventlet import pools``."""
    return eventlet.pools if request.param == "eventlet" else eventlet_pools


def is_ours(pools: ModuleType) -> bool:
    return pools is eventlet_pools


CACHE = (
    pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "eventlet_pools-tests"
)


def eventlet_source_tests() -> pathlib.Path:
    """The tests/ folder of the installed eventlet's sdist, downloaded once."""
    version = eventlet.__version__
    target = CACHE / f"eventlet-{version}" / "tests"
    if (target / "pools_test.py").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", "eventlet"]
        subprocess.run(
            [*pip, "--dest", tmp, f"eventlet=={version}"],
            check=True,
            timeout=600,
        )
        (sdist,) = pathlib.Path(tmp).glob("eventlet-*.tar.gz")
        with tarfile.open(sdist) as archive:
            prefix = f"eventlet-{version}/tests/"
            members = [m for m in archive.getmembers() if m.name.startswith(prefix) and m.isfile()]
            staging = pathlib.Path(tmp) / "tests"
            for member in members:
                member.name = member.name[len(prefix) :]
                if hasattr(tarfile, "data_filter"):
                    archive.extract(member, staging, filter="data")
                else:  # pragma: no cover - Pythons before the filter
                    archive.extract(member, staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():  # another run may have just put it there
            os.replace(staging, target)
    return target
