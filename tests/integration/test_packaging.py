"""The version comes from one place, the changelog has a section for it,
and the classifiers, python_requires and tox name the same Pythons."""

from __future__ import annotations

import configparser
import importlib.metadata
import pathlib
import re

import eventlet_pools

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_installed_metadata_has_the_package_version() -> None:
    assert importlib.metadata.version("eventlet_pools") == eventlet_pools.__version__
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert setup["metadata"]["version"] == "attr: eventlet_pools.__version__"  # (nowhere else)


def test_the_changelog_starts_with_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## (\d+\.\d+\.\d+)\b", changelog, flags=re.MULTILINE)
    assert releases, "CHANGELOG.md has no '## X.Y.Z' section"
    assert releases[0] == eventlet_pools.__version__
    assert len(releases) == len(set(releases))


def test_classifiers_python_requires_and_tox_name_the_same_pythons() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    classified = re.findall(r"Programming Language :: Python :: (3\.\d+)", setup["metadata"]["classifiers"])
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    envs = re.findall(r"py3(\d+)", tox["tox"]["envlist"])
    assert classified == [f"3.{minor}" for minor in envs]
    assert setup["options"]["python_requires"] == f">={classified[0]}"
