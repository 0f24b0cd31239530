"""Outputs that cannot be written and inputs that were crashes (issue 20): each is one line with a
specific class and exit 2, never `internal`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
IMG = str(FIXTURES / "oci-busybox")


def _inspectr(*args: str, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    code = "import sys; from inspectr.cli import main; sys.argv[0] = 'inspectr'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)  # type: ignore[call-overload]


@pytest.mark.parametrize("args", [["cat", IMG, "etc/passwd"], ["ls", IMG], ["ls", "-f", "json", IMG],
                                  ["export", IMG, "-"], ["inspect", IMG], ["diff", IMG, IMG]])
def test_standard_output_on_a_full_disk_is_disk_full(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = _inspectr(*args, stdout=full)
    assert done.returncode == 2, done.stderr
    assert "disk-full" in done.stderr and "standard output" in done.stderr, done.stderr
    assert "internal" not in done.stderr and "Traceback" not in done.stderr and "Exception" not in done.stderr


@pytest.mark.parametrize("args,error_class,words", [
    (["gate", "--release", IMG, "--rebuild", IMG, "--json", "/proc/nope/x.json"], "write-error", ["/proc/nope/x.json"]),
    (["inspect", "docker://127.0.0.1:99999/x:1"], "usage", ["99999", "out of range"]),
    (["run", "--timeout", "-1", IMG, "--", "true"], "usage", ["--timeout"]),
])
def test_former_internal_errors_have_their_own_class(args: list[str], error_class: str, words: list[str]) -> None:
    done = _inspectr(*args)
    assert done.returncode == 2 and f"error[{error_class}]" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    for word in words:
        assert word in done.stderr


def test_a_policy_cause_given_as_a_list_names_the_field(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[[accept]]\ncause = ["timestamp"]\nreason = "x"\n')
    done = _inspectr("diff", "--policy", str(policy), IMG, IMG)
    assert done.returncode == 2 and "error[usage]" in done.stderr and "accept[0].cause" in done.stderr, done.stderr
