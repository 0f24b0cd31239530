"""A local stand-in for the CI runners: runs the shipped GitHub Action's step
(scripts/gate-action.sh, as action.yml does) and the GitLab job's script line with the
environment those runners set, then checks the outputs they would consume."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from inspectr.verify.keys import gpgv_available

ROOT = Path(__file__).resolve().parent.parent
SIG = ROOT / "fixtures" / "signatures"
needs_cli = pytest.mark.skipif(shutil.which("inspectr") is None or not gpgv_available(),
                               reason="the inspectr console script and gpgv are needed")


def run_action(tmp: Path, **inputs: str) -> tuple[subprocess.CompletedProcess, Path, Path]:  # type: ignore[type-arg]
    summary, output = tmp / "summary.md", tmp / "output.txt"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output),
           "INPUT_REPORT_DIR": str(tmp / "inspectr-report")}
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gate-action.sh")], env=env, capture_output=True, text=True,
                          cwd=tmp, timeout=120)
    return proc, summary, output


def test_action_yml_runs_the_step_script() -> None:
    text = (ROOT / "action.yml").read_text()
    assert "scripts/gate-action.sh" in text and "using: composite" in text
    for name in ("release", "rebuild", "policy", "keyring", "key", "report-dir"):
        assert re.search(rf"^  {name}:", text, re.M), name


@needs_cli
def test_github_action_passes_a_reproduced_release(tmp_path: Path) -> None:
    proc, summary, output = run_action(tmp_path, release=f"dir:{SIG / 'dir-rsa'}", rebuild=str(ROOT / "fixtures" / "oci-gzip"),
                                       keyring=str(SIG / "rsa.pub.gpg"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert output.read_text() == "verdict=reproduced\n"
    assert summary.read_text().startswith("### ✅ inspectr gate: **reproduced**")
    assert "::error" not in proc.stdout
    assert sorted(p.name for p in (tmp_path / "inspectr-report").iterdir()) == ["gate.json", "gate.junit.xml", "gate.md", "gate.sarif",
                                                                                "report.html"]


@needs_cli
def test_github_action_fails_an_untrusted_release_with_annotations(tmp_path: Path) -> None:
    proc, summary, output = run_action(tmp_path, release=f"dir:{SIG / 'dir-rsa'}", rebuild=str(ROOT / "fixtures" / "oci-gzip"),
                                       keyring=str(SIG / "other.pub.gpg"))
    assert proc.returncode == 1
    assert output.read_text() == "verdict=untrusted\n"
    assert "::error title=inspectr gate: release-signature::" in proc.stdout
    assert "**untrusted**" in summary.read_text()


@needs_cli
def test_gitlab_job_script_writes_the_junit_artifact(tmp_path: Path) -> None:
    env = {**os.environ, "CI": "true", "GITLAB_CI": "true"}
    env.pop("GITHUB_ACTIONS", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    proc = subprocess.run(["inspectr", "gate", "--release", str(ROOT / "fixtures" / "diff" / "ts0-1.tar"),
                           "--rebuild", str(ROOT / "fixtures" / "diff" / "changed.tar"), "--report-dir", "inspectr-report"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout.startswith("not-reproduced")
    junit = (tmp_path / "inspectr-report" / "gate.junit.xml").read_text()
    assert "<testcase" in junit and "<failure" in junit
    assert json.loads((tmp_path / "inspectr-report" / "gate.json").read_text())["verdict"] == "not-reproduced"
