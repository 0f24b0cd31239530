"""What inspectr and its tests depend on is declared truthfully (issue 13, point 7).

- pyproject.toml's floors admit the installed versions, and none is lower than the release that
  introduced an API the code uses. The floors were found by running the tests against candidate
  versions. .ci/run installs each floor exactly and runs a smoke subset on it.
- Under CI, a skipped test fails the session (tests/conftest.py).
- The tests read no file outside the repository: the third-party signature vectors are vendored.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEPENDENCIES = {Requirement(d).name: Requirement(d) for d in PYPROJECT["project"]["dependencies"]}


def floor(req: Requirement) -> Version:
    (spec,) = req.specifier  # a single ">=" (test_every_dependency_has_one_plain_floor)
    return Version(spec.version)


def package_uses(pattern: str) -> list[str]:
    """The inspectr modules whose source matches `pattern` (a regex)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "inspectr").rglob("*.py") if re.search(pattern, p.read_text()))


def test_every_dependency_has_one_plain_floor() -> None:
    # .ci/run derives `name==version` from each entry, so each must be exactly NAME>=VERSION.
    assert set(DEPENDENCIES) == {"click", "rich", "zstandard", "cryptography", "isal", "urllib3", "sigstore",
                                 "cyclonedx-python-lib", "packageurl-python", "jinja2", "indexed_gzip"}
    for req in DEPENDENCIES.values():
        assert [s.operator for s in req.specifier] == [">="], req
        assert not req.extras and req.marker is None and req.url is None, req


@pytest.mark.parametrize("name", sorted(DEPENDENCIES))
def test_installed_version_satisfies_the_floor(name: str) -> None:
    installed = importlib.metadata.version(name)
    assert DEPENDENCIES[name].specifier.contains(installed, prereleases=True), \
        f"{name} {installed} is installed, but pyproject.toml says {DEPENDENCIES[name]}"


# (package, the first release that works, what in inspectr needs it, how that was found).
# When a pattern no longer matches, the reason for that floor is gone: re-measure the floor.
NEEDS = [
    ("click", "8.2.0", r"exceptions\.NoArgsIsHelpError",
     "added in click 8.2.0; with 8.1.x every usage error ends in AttributeError and a traceback"),
    ("rich", "9.7.0", r"no_color=", "Console(no_color=...) is new in rich 9.7.0; 9.6.2 raises TypeError"),
    ("rich", "13.0.0", r"from sigstore", "sigstore 4.0.0 requires rich>=13: a lower floor cannot be installed beside it"),
    ("cryptography", "3.1", r"load_pem_public_key\(\w+\)",
     "load_pem_public_key without a backend: 3.0 raises 'missing 1 required positional argument: backend'"),
    ("cryptography", "45.0.0", r"ExtensionPolicy\.webpki_defaults_ca",
     "x509.verification.ExtensionPolicy is new in cryptography 45; 44 raises ImportError (Fulcio chains)"),
    ("sigstore", "4.0.0", r"from sigstore\.models import Bundle",
     "sigstore.models.Bundle/TrustedRoot and Verifier(trusted_root=...) are the 4.x API; 3.x lacks sigstore.models.TrustedRoot"),
    ("urllib3", "2.0", r"urllib3\.BaseHTTPResponse", "BaseHTTPResponse is new in 2.0; 1.26 fails TLS with a custom CA"),
    ("cyclonedx-python-lib", "8.0.0", r"from cyclonedx\.model\.tool import ToolRepository",
     "cyclonedx.model.tool.ToolRepository (CycloneDX 1.5+ tools.components) is new in 8.0.0; 7.x raises ImportError"),
    ("packageurl-python", "0.11.1", r"from packageurl import PackageURL",
     "0.11.1 is the lowest packageurl-python that cyclonedx-python-lib 8.0.0 installs beside (0.11.0 is not on PyPI)"),
    ("jinja2", "3.0.0", r"\nimport jinja2\n",
     "Jinja2 2.11.3 imports markupsafe.soft_unicode, which MarkupSafe 2.1 removed: ImportError beside any current MarkupSafe"),
]


@pytest.mark.parametrize("name,first_good,pattern,why", NEEDS, ids=[n[0] for n in NEEDS])
def test_floor_is_no_lower_than_the_apis_inspectr_uses(name: str, first_good: str, pattern: str, why: str) -> None:
    assert package_uses(pattern), f"inspectr no longer matches {pattern!r}: re-measure the {name} floor ({why})"
    assert floor(DEPENDENCIES[name]) >= Version(first_good), f"{DEPENDENCIES[name]}: {why}"


def test_isal_floor_is_the_first_release_for_the_declared_python() -> None:
    # isal 1.1.0 is the oldest release with cp311 wheels (1.0.x and 0.x have none), and the
    # gzip, real-image, hostile and cache tests pass with it and with 1.3.0, 1.5.3, 1.6.1 and 1.8.0.
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert floor(DEPENDENCIES["isal"]) == Version("1.1.0")


def test_zstandard_floor_supports_the_declared_python() -> None:
    # zstandard 0.19.0 is the first release for Python 3.11 (classifier and cp311 wheels); older
    # ones only build from source, which .ci/run's wheels-only floor install would not do.
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert floor(DEPENDENCIES["zstandard"]) >= Version("0.19.0")


def test_debian_12_click_does_not_satisfy_the_floor() -> None:
    """`pip install .` in a venv that sees Debian 12's python3-click must replace it: with the
    old floor (click>=8.1) pip kept 8.1.3 and every usage error crashed."""
    assert not DEPENDENCIES["click"].specifier.contains("8.1.3")
    assert hasattr(click.exceptions, "NoArgsIsHelpError")  # what the installed click must provide


def test_test_extra_click_keeps_stderr_of_the_cli_runner() -> None:
    # The tests read CliRunner's result.stderr for text inspectr writes with sys.stderr.write
    # (export's warnings). click 8.2.0's runner drops it when unflushed; 8.2.1 fixed that.
    test_reqs = {Requirement(r).name: Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]}
    assert floor(test_reqs["click"]) >= Version("8.2.1")
    assert not test_reqs["click"].specifier.contains("8.2.0")


# -- the CI guard ------------------------------------------------------------------------------

SKIPPING = """\
import pytest


def test_runs() -> None:
    pass


def test_is_skipped() -> None:
    pytest.skip("for want of something")
"""


def run_pytest_with_the_guard(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """Run a file with one passing and one skipping test under tests/conftest.py, with CI=`ci`."""
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                           "--rootdir", str(tmp_path), str(tmp_path / "test_skipping.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_any_skipped_test_fails_the_session_under_ci(tmp_path: Path, ci: str) -> None:
    result = run_pytest_with_the_guard(tmp_path, ci)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert "test_skipping.py::test_is_skipped: Skipped: for want of something" in result.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_a_skip_outside_ci_is_only_a_skip(tmp_path: Path, ci: str | None) -> None:
    result = run_pytest_with_the_guard(tmp_path, ci)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout and "no test may skip" not in result.stdout


# -- nothing outside the repository ------------------------------------------------------------


def test_tests_read_no_files_outside_the_repository() -> None:
    # The signature vectors used to be read from ../shared/thirdparty and the tests skipped where
    # it was missing; they are vendored in fixtures/thirdparty/ now, with their licence.
    outside = re.compile(r"""ROOT\.parent\b|/\s*["']shared["']|["'](\.\./|/work/)shared\b""")
    offenders = [f"{p.name}:{i}" for p in sorted((ROOT / "tests").glob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1) if outside.search(line)]
    assert offenders == []
    vendored = ROOT / "fixtures" / "thirdparty" / "containers-image"
    assert (vendored / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert "df7e80d2" in (vendored / "README.md").read_text()
    assert (vendored / "signature" / "fixtures" / "cosign.pub").is_file()
