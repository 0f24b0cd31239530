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
