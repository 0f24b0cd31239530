"""The package type-checks: `python -m mypy inspectr` with the [tool.mypy] config in pyproject.toml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_clean() -> None:
    if not os.environ.get("CI"):  # under CI the test extra installs mypy: a skip there would hide it
        pytest.importorskip("mypy")
    # The incremental cache is the default .mypy_cache in the repo root (git-ignored): warm runs take seconds.
    proc = subprocess.run([sys.executable, "-m", "mypy", "inspectr"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"mypy failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"


def test_public_api_has_real_types_for_callers(tmp_path: Path) -> None:
    if not os.environ.get("CI"):
        pytest.importorskip("mypy")
    names = ["open_container", "open_image", "build_tree", "diff_images", "verify_image", "audit_image", "run_image",
             "behave", "run_gate", "Session", "Image", "Tree"]
    caller = tmp_path / "caller.py"
    caller.write_text(f"from inspectr import {', '.join(names)}\n" + "".join(f"reveal_type({n})\n" for n in names))
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--strict", str(caller)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    revealed = [line for line in proc.stdout.splitlines() if "Revealed type" in line]
    assert len(revealed) == len(names), proc.stdout
    assert not [line for line in revealed if "Any" in line], revealed
