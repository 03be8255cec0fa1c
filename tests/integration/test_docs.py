"""The Python examples of README.md's migration, lifecycle, backend, database,
variant, Proxy and Redis sections run as they stand, and what they assert holds.
(The opening example is a sketch with placeholders.)"""

from __future__ import annotations

import pathlib
import re

import pytest

README = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()


def section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


LIFECYCLE = section("Lifecycle options")
EXAMPLES = [
    example
    for title in (
        "Moving from eventlet.pools",
        "Lifecycle options",
        "Backends: greenthreads, native threads or asyncio",
        "DB-API connections",
        "Pool variants",
        "Proxy",
        "Worker pools",
        "Beyond one process: Redis",
    )
    for example in re.findall(r"```python\n(.+?)```", section(title), flags=re.DOTALL)
]


def test_readme_has_an_example_per_lifecycle_option() -> None:
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
        assert re.search(rf"### .*`{option}`.*\n(?:.*\n)*?```python\n(?:.*\n)*?.*{option}=", LIFECYCLE), (
            option
        )


@pytest.mark.parametrize("source", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs(source: str) -> None:
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(source, "<README example>", "exec"), namespace)
    pool = namespace.get("pool")
    close = getattr(pool, "close", None)
    if close is not None:
        close()
