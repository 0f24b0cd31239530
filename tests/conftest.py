"""Shared test setup: make tests/ helper modules (builders, reference_model) importable."""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

pytest_plugins = ["registry_fixtures"]

# Under CI (CI=true, as root), tests that need root, umoci or a registry must run: a skip there
# would hide a missing install step or a broken environment, so it fails the session.
_GUARDED = ("needs_root", "needs_umoci", "needs_registry")


def pytest_runtest_logreport(report):  # type: ignore[no-untyped-def]
    if report.skipped and os.environ.get("CI") and any(k in report.keywords for k in _GUARDED):
        _SKIPPED_GUARDED.append(report.nodeid)


_SKIPPED_GUARDED: list[str] = []


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    if _SKIPPED_GUARDED:
        print(f"\nCI: {len(_SKIPPED_GUARDED)} test(s) that must run under CI were skipped:")
        for nodeid in _SKIPPED_GUARDED:
            print(f"  {nodeid}")
        session.exitstatus = 1


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):  # type: ignore[no-untyped-def]
    """Every test gets its own empty layer-index cache; none touches ~/.cache."""
    monkeypatch.setenv("INSPECTR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
