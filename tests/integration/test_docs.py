"""Every Python example of the docs site (docs/*.md) and of README.md runs
as it stands, and what it asserts holds; the pages say what the code does."""

from __future__ import annotations

import concurrent.futures.thread  # noqa: F401  (see below)
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

# The Redis examples load redis-py with eventlet.import_patched(), which
# patches whatever that import loads first, concurrent.futures.thread too
# (its queue would be eventlet's, which has no SimpleQueue): it is loaded
# here, before any example runs.
ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


def examples(page: pathlib.Path) -> list[str]:
    return re.findall(r"^```python\n(.+?)^```", page.read_text(), flags=re.DOTALL | re.MULTILINE)


EXAMPLES = [
    pytest.param(source, id=f"{page.stem}-{number}")
    for page in PAGES
    for number, source in enumerate(examples(page))
]


def test_the_pages_have_examples() -> None:
    # (A change of fence style would silently leave them all untested.)
    for page in ("index", "quickstart", "migrating", "runtimes", "lifecycle", "databases", "variants"):
        assert examples(DOCS / f"{page}.md"), page
    for page in ("redis", "workers", "observability"):
        assert examples(DOCS / f"{page}.md"), page
    assert examples(ROOT / "README.md")


def test_lifecycle_page_has_an_example_per_option() -> None:
    lifecycle = (DOCS / "lifecycle.md").read_text()
    for option in (
        "max_age",
        "max_idle",
        "max_uses",
        "max_overflow",
        "check",
        "reset",
        "health_check_interval",
        "max_hold",
        "reclaim_after",
        "create_retry",
    ):
        assert re.search(rf"## .*`{option}`.*\n(?:.*\n)*?```python\n(?:.*\n)*?.*{option}=", lifecycle), option


def test_speed_figures_come_from_run_all_not_from_hand() -> None:
    # Every ratio on the speed page is in a table benchmarks/run_all.py
    # wrote (included with --8<--); the page's own text types none.
    speed = (DOCS / "speed.md").read_text()
    included = re.findall(r'--8<-- "(docs/figures/[\w.-]+\.md)"', speed)
    assert included
    for path in included:
        table = (ROOT / path).read_text()
        assert "benchmarks/run_all.py" in table
        assert re.search(r"\d\.\d\dx", table), path
    assert not re.search(r"\d\.\d+x", speed), "a ratio typed by hand on docs/speed.md"


@pytest.mark.parametrize("source", EXAMPLES)
def test_example_runs(source: str) -> None:
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(source, "<docs example>", "exec"), namespace)
    pool = namespace.get("pool")
    close = getattr(pool, "close", None)
    if close is not None:
        close()


def build_site(root: pathlib.Path, site: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_strict_and_a_broken_reference_fails_it(tmp_path: pathlib.Path) -> None:
    # A copy of what the build reads, so the broken pages never touch the tree.
    root = tmp_path / "tree"
    root.mkdir()
    for name in ("mkdocs.yml", "CHANGELOG.md"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(DOCS, root / "docs")
    if (ROOT / "eventlet_pools").is_dir():  # (else, from an unpacked sdist: the installed one)
        os.symlink(ROOT / "eventlet_pools", root / "eventlet_pools")
    built = build_site(root, tmp_path / "site")
    assert built.returncode == 0, built.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert 'href="#eventlet_pools.Pool.get"' in api  # the docstrings' roles became links
    assert ":meth:`" not in api
    for broken, complaint in (
        ("[the pool](lifecycle.md#no-such-section)", "does not contain an anchor '#no-such-section'"),
        ("[the pool](no-such-page.md)", "'no-such-page.md', but the target is not found"),
        (
            "[`Pool`][eventlet_pools.NoSuchPool]",
            "cross-reference target 'eventlet_pools.NoSuchPool'",
        ),
    ):
        page = root / "docs" / "quickstart.md"
        original = page.read_text()
        page.write_text(original + f"\n{broken}\n")
        failed = build_site(root, tmp_path / "site")
        page.write_text(original)
        assert failed.returncode != 0, broken
        assert complaint in failed.stderr, failed.stderr
