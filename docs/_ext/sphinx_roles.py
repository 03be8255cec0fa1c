"""A griffe extension for the API reference: the docstrings' Sphinx roles
(``:class:`Pool```, ``:meth:`~eventlet_pools.Pool.get```,
``:meth:`get <eventlet_pools.Pool.get>```) become mkdocstrings cross-references,
resolved where the docstring is, as Sphinx would resolve them.

A reference into this package that does not resolve stays a cross-reference
to the name as written, so ``mkdocs build --strict`` fails on it: a broken
reference fails CI. References to other packages (``eventlet.pools``) become
plain code.
"""

from __future__ import annotations

import builtins
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|meth|func|data|mod|attr|exc|obj):`(~?)([^`<>]+?)(?:\s*<([^`>]+)>)?`")
PACKAGE = "eventlet_pools"
#: Packages whose names stay plain code (their docs are not this site's).
OTHERS = ("eventlet", "gevent", "asyncio", "concurrent", "redis", "threading", "functools", "contextvars")


def resolve(obj: griffe.Object, name: str) -> str:
    """The full path of ``name`` as seen from ``obj`` (``name`` if it does
    not resolve: the cross-reference then fails the strict build)."""
    if name.startswith(PACKAGE + ".") or name == PACKAGE:
        return name
    head, _, rest = name.partition(".")
    scope: Any = obj
    while scope is not None:
        if scope.is_class and head in scope.all_members:  # (inherited ones too)
            found = f"{scope.path}.{head}"
        else:
            try:
                found = scope.resolve(head)
            except (griffe.NameResolutionError, AttributeError, KeyError):
                scope = scope.parent
                continue
        return f"{found}.{rest}" if rest else str(found)
    return name


def is_foreign(target: str) -> bool:
    """A builtin (``ValueError``) or another package's name."""
    first = target.split(".", 1)[0]
    return first in OTHERS or (first == target and hasattr(builtins, target))


def rewrite(obj: griffe.Object, text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        tilde, shown, explicit = match.group(1), match.group(2).strip(), match.group(3)
        target = explicit.strip() if explicit else shown
        label = shown.rsplit(".", 1)[-1] if tilde else shown
        if is_foreign(target):
            return f"`{label}`"  # plain code
        return f"[`{label}`][{resolve(obj, target)}]"

    return ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring once the object tree is built."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":`" in obj.docstring.value:
            obj.docstring.value = rewrite(obj, obj.docstring.value)
