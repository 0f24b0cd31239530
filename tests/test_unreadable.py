"""Images this user cannot read (issue 20): one line naming the file, class read-error, exit 2.

As root, the test drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set (setpriv,
util-linux), so root meets file permissions like any user, without switching to a uid that
cannot read the interpreter under /root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
NOBODY = 65534


def _as_unprivileged(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    else:
        prefix = []
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([*prefix, sys.executable, "-m", "inspectr", "--no-cache", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture()
def layout(tmp_path: Path) -> Path:
    dst = tmp_path / "lay"
    shutil.copytree(FIXTURES / "oci-busybox", dst)
    return dst


def _layer_blob(layout: Path) -> Path:
    return max((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)


CASES = [(c, w) for c in ("ls", "inspect", "audit", "cat") for w in ("archive", "index.json", "layer blob")
         if (c, w) != ("inspect", "layer blob")]  # inspect reads no layer


@pytest.mark.parametrize(("command", "which"), CASES)
def test_an_unreadable_image_file_is_read_error_naming_it(tmp_path: Path, layout: Path, which: str, command: str) -> None:
    if which == "archive":
        target = tmp_path / "a.tar"
        shutil.copy(FIXTURES / "oci-busybox.tar", target)
        image, unreadable = "a.tar", target
    else:
        image = "lay"
        unreadable = layout / "index.json" if which == "index.json" else _layer_blob(layout)
    os.chown(unreadable, NOBODY, NOBODY)  # another user's file, mode 600
    unreadable.chmod(0o600)
    extra = ["bin/sh"] if command == "cat" else []
    result = _as_unprivileged([command, image, *extra], cwd=tmp_path)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("inspectr: error[read-error]: "), lines
    assert unreadable.name in lines[0] and "Permission denied" in lines[0]
    assert result.stdout == ""


def test_readable_again_it_works(tmp_path: Path, layout: Path) -> None:
    # The same set-up with the modes left readable: the failure above is the permission, not setpriv.
    result = _as_unprivileged(["ls", "lay"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bin/sh" in result.stdout
