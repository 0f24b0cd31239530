"""inspectr behave (needs root): same, different and nondeterministic probes, on images that carry
the real busybox from fixtures/oci-busybox."""

from __future__ import annotations

import json
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


# Real buildah builds over busybox-static (fixtures/behave/build.sh): one layout, four tags.
BUILT = Path(__file__).resolve().parent.parent / "fixtures" / "behave" / "images"
APP_PROBES = ["/app/run.sh", "cat /app/config.txt; id; ls /app"]


def _behave_cli(a: str, b: str, *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    runner = CliRunner()
    js = runner.invoke(cli, ["behave", f"oci:{BUILT}:{a}", f"oci:{BUILT}:{b}", *args, "--format", "json"])
    text = runner.invoke(cli, ["behave", f"oci:{BUILT}:{a}", f"oci:{BUILT}:{b}", *args])
    assert js.exit_code == text.exit_code, (js.output, text.output)
    return js.exit_code, json.loads(js.stdout), text.stdout


def test_buildah_timestamp_only_rebuild_behaves_the_same() -> None:
    code, doc, text = _behave_cli("v1", "v1-rebuild", *[x for p in APP_PROBES for x in ("--probe", p)])
    assert code == 0 and doc["same"] is True and text.startswith("same\n")
    assert [p["verdict"] for p in doc["probes"]] == ["same", "same"]
    # the bytes differ: inspectr diff sees the rebuild's timestamps
    assert CliRunner().invoke(cli, ["diff", f"oci:{BUILT}:v1", f"oci:{BUILT}:v1-rebuild"]).exit_code == 1


def test_buildah_changed_script_behaves_differently_and_the_report_names_probe_and_output() -> None:
    code, doc, text = _behave_cli("v1", "v2", *[x for p in APP_PROBES for x in ("--probe", p)])
    assert code == 1 and doc["same"] is False
    by_probe = {p["probe"]: p for p in doc["probes"]}
    assert by_probe["/app/run.sh"]["verdict"] == "different"
    assert by_probe[APP_PROBES[1]]["verdict"] == "same"  # config and files behave the same
    diff = by_probe["/app/run.sh"]["differences"]
    assert list(diff) == ["stdout"]
    assert "greeting: hello" in diff["stdout"]["a"]["text"] and "greeting: howdy" in diff["stdout"]["b"]["text"]
    assert "  different              /app/run.sh\n      stdout:\n" in text
    assert "        -greeting: hello\n        +greeting: howdy\n" in text


def test_buildah_random_probe_is_nondeterministic_and_the_default_command_same() -> None:
    code, doc, _ = _behave_cli("v1", "v1-rebuild", "--probe", "head -c 16 /dev/urandom | od -x")
    assert code == 0 and doc["probes"][0]["verdict"] == "nondeterministic-only"
    assert doc["probes"][0]["nondeterministic"] == ["stdout"]
    code, doc, _ = _behave_cli("v1", "v1-rebuild")  # default probes: the entrypoint with --version, --help, the default command
    assert code == 0 and doc["same"] is True and len(doc["probes"]) >= 2


def test_a_probe_that_cannot_run_is_an_error_not_a_difference(capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 20: a probe that cannot run (here: the image has no /bin/sh) was reported as
    # "different", exit 1, even for an image compared with itself.
    from clirun import run_main

    image = f"oci:{Path(__file__).resolve().parent.parent / 'fixtures/gate/drift/base-a'}"
    code, out, err = run_main(capsys, "behave", image, image, "--probe", "echo hi")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "error[runtime-error]" in err and "'echo hi' could not run" in err and "/bin/sh" in err


def test_a_gate_probe_that_cannot_run_is_an_error_not_a_failed_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 20: the gate counted a probe that could not run as a behaviour difference (exit 1,
    # not-reproduced) for an image gated against itself.
    from clirun import run_main

    image = f"oci:{Path(__file__).resolve().parent.parent / 'fixtures/gate/drift/base-a'}"
    policy = tmp_path / "p.toml"
    policy.write_text('[signers]\nrequired = false\n\n[behave]\nprobes = ["echo hi"]\n')
    report = tmp_path / "gate.json"
    code, out, err = run_main(capsys, "gate", "--release", image, "--rebuild", image, "--policy", str(policy),
                              "--behave", "--json", str(report))
    assert code == 2 and err.count("\n") == 1, err
    assert "error[runtime-error]" in err and "'echo hi' could not run" in err and "/bin/sh" in err
    assert not report.exists()  # no report that looks like a verdict
