"""inspectr behave (needs root): same, different and nondeterministic probes, on images that carry
the real busybox from fixtures/oci-busybox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import TarBuilder, write_oci_layout
from inspectr import open_image
from inspectr.cli import cli
from inspectr.runtime.behave import Probe, behave

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
pytestmark = [pytest.mark.needs_root, pytest.mark.skipif(os.geteuid() != 0, reason="the runtime needs root")]


@pytest.fixture(scope="module")
def busybox() -> bytes:
    return CliRunner().invoke(cli, ["cat", str(FIXTURES / "oci-busybox"), "bin/busybox"]).stdout_bytes


def image(tmp: Path, name: str, busybox: bytes, script: str, mtime: int) -> str:
    base = (TarBuilder().add_dir("bin", mtime=mtime).add_file("bin/busybox", busybox, mode=0o755, mtime=mtime)
            .add_symlink("bin/sh", "busybox", mtime=mtime).add_symlink("bin/cat", "busybox", mtime=mtime)
            .add_symlink("bin/head", "busybox", mtime=mtime).add_symlink("bin/od", "busybox", mtime=mtime)
            .add_dir("etc", mtime=mtime).add_file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", mtime=mtime))
    app = TarBuilder().add_dir("app", mtime=mtime).add_file("app/run.sh", script, mode=0o755, mtime=mtime)
    return str(write_oci_layout(tmp / name, [base.finish(), app.finish()]).path)


PROBES = [Probe("run", ("/bin/sh", "/app/run.sh")), Probe("motd", ("/bin/sh", "-c", "echo hi > /tmp/out; cat /app/run.sh"))]


def test_a_timestamp_only_rebuild_behaves_the_same(tmp_path: Path, busybox: bytes) -> None:
    a = image(tmp_path, "a", busybox, "#!/bin/sh\necho version 1\n", 1000)
    b = image(tmp_path, "b", busybox, "#!/bin/sh\necho version 1\n", 2000)
    report = behave(open_image(a), open_image(b), PROBES)
    assert report.same, [o.to_json() for o in report.outcomes]
    assert [o.verdict for o in report.outcomes] == ["same", "same"]


def test_a_changed_script_behaves_differently_and_the_probe_is_named(tmp_path: Path, busybox: bytes) -> None:
    a = image(tmp_path, "a", busybox, "#!/bin/sh\necho version 1\n", 1000)
    b = image(tmp_path, "b", busybox, "#!/bin/sh\necho version 2\nexit 3\n", 1000)
    result = CliRunner().invoke(cli, ["behave", a, b, "--probe", "/app/run.sh", "--repeat", "2"])
    assert result.exit_code == 1
    assert "different" in result.stdout and "/app/run.sh" in result.stdout
    assert "version 1" in result.stdout and "version 2" in result.stdout
    report = behave(open_image(a), open_image(b), PROBES[:1])
    assert set(report.outcomes[0].differences) == {"exit", "stdout"}


def test_random_output_is_nondeterministic_not_a_difference(tmp_path: Path, busybox: bytes) -> None:
    a = image(tmp_path, "a", busybox, "#!/bin/sh\nhead -c 16 /dev/urandom | od -An -tx1\n", 1000)
    b = image(tmp_path, "b", busybox, "#!/bin/sh\nhead -c 16 /dev/urandom | od -An -tx1\n", 2000)
    report = behave(open_image(a), open_image(b), PROBES[:1], repeat=3)
    (outcome,) = report.outcomes
    assert outcome.verdict == "nondeterministic-only" and outcome.nondeterministic == ["stdout"]
    assert report.same


def test_gate_behave_runs_the_policy_probes(tmp_path: Path, busybox: bytes) -> None:
    import json

    a = image(tmp_path, "a", busybox, "#!/bin/sh\necho version 1\n", 1000)
    b = image(tmp_path, "b", busybox, "#!/bin/sh\necho version 2\n", 1000)
    policy = tmp_path / "p.toml"
    policy.write_text('[signers]\nrequired = false\n\n[diff]\nsemantic = true\n\n[[accept]]\npath = "app/run.sh"\n'
                      'reason = "script reworded"\n\n[behave]\nprobes = ["/app/run.sh"]\n')
    report = tmp_path / "gate.json"
    without = CliRunner().invoke(cli, ["gate", "--release", a, "--rebuild", b, "--policy", str(policy), "--json", str(report)])
    assert without.exit_code == 0 and json.loads(report.read_text())["verdict"] == "equivalent"
    with_behave = CliRunner().invoke(cli, ["gate", "--release", a, "--rebuild", b, "--policy", str(policy), "--behave",
                                           "--json", str(report)])
    doc = json.loads(report.read_text())
    assert with_behave.exit_code == 1 and doc["verdict"] == "not-reproduced"
    probe = [c for c in doc["checks"] if c["id"].startswith("behave:")]
    assert probe and probe[0]["status"] == "fail" and "stdout" in probe[0]["message"]
