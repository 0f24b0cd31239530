"""Shared test setup: make tests/ helper modules (builders, reference_model) importable, give every
test a private cache, and fail the session when any test skips under CI."""

from __future__ import annotations

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

pytest_plugins = ["registry_fixtures", "fleet_env"]

# Under CI no test may skip: a skip there hides a missing install step, a missing fixture or a broken
# environment (root, umoci, a registry, gpgv, vendored vectors), so any skip fails the session. CI
# is "on" when the CI variable holds anything but an empty or false-like value (CI=true, CI=1).
_FALSE = ("", "0", "false", "no", "off")


def _ci_enabled() -> bool:
    return os.environ.get("CI", "").strip().lower() not in _FALSE


_SKIPPED: list[str] = []


def _note_skip(report) -> None:  # type: ignore[no-untyped-def]
    if not report.skipped or hasattr(report, "wasxfail") or not _ci_enabled():
        return  # an xfail is reported as skipped too, but it ran
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    _SKIPPED.append(f"{report.nodeid}: {reason}")


def pytest_runtest_logreport(report):  # type: ignore[no-untyped-def]
    _note_skip(report)


def pytest_collectreport(report):  # type: ignore[no-untyped-def]
    _note_skip(report)  # a module-level skip (pytest.skip(allow_module_level=True), importorskip)


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    if _SKIPPED and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if _SKIPPED:
        terminalreporter.section("CI: no test may skip", red=True, bold=True)
        terminalreporter.line(f"{len(_SKIPPED)} test(s) skipped under CI={os.environ.get('CI')}; "
                              "the session fails. Install what they need (see .ci/run):")
        for line in _SKIPPED:
            terminalreporter.line(f"  {line}")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):  # type: ignore[no-untyped-def]
    """Every test gets its own empty layer-index cache; none touches ~/.cache."""
    monkeypatch.setenv("INSPECTR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def layer_passes(monkeypatch):  # type: ignore[no-untyped-def]
    """The labels of the layers read by a full pass for their files' contents (fs/content.py),
    in order: reads through seek points, kept copies or the cache make none."""
    from inspectr.fs import content

    labels: list[str] = []
    real = content.iter_layer_members

    def counting(ref, *args, **kwargs):  # type: ignore[no-untyped-def]
        labels.append(ref.label)
        return real(ref, *args, **kwargs)

    monkeypatch.setattr(content, "iter_layer_members", counting)
    return labels
