"""click parses every option itself: nothing rewrites argv (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from builders import Corrupt, TarBuilder, write_oci_layout
from clirun import run_main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _inspectr(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from inspectr.cli import main; sys.argv[0] = 'inspectr'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.needs_root
@pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")
def test_container_arguments_after_double_dash_keep_their_dash_v() -> None:
    done = _inspectr("run", str(FIXTURES / "oci-busybox"), "--", "echo", "-v", "--verbose", "hello")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "-v --verbose hello\n"


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_is_accepted_before_or_after_the_command(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         where: str) -> None:
    # A digest mismatch carries a hint, which only -v prints.
    written = write_oci_layout(tmp_path / "img", [TarBuilder().add_file("a", b"1").finish()], corrupt=Corrupt(layer_digest=0))
    args = ["ls", str(written.path)]
    code, _, err = run_main(capsys, *(["-v", *args] if where == "before" else [*args, "-v"]))
    quiet_code, _, quiet = run_main(capsys, *args)
    assert code == quiet_code == 2
    assert "error[digest-mismatch]" in quiet and "hint" not in quiet
    assert err.splitlines()[0] == quiet.splitlines()[0] and "inspectr: hint: " in err


def test_dash_v_is_a_known_option_of_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("inspect", "ls", "cat", "export", "diff", "verify", "audit", "gate", "run", "behave", "cache", "pull"):
        code, out, _ = run_main(capsys, command, "--help")
        assert code == 0 and "--verbose" in out, command
